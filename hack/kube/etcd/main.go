// Command etcd is etcd v3 built from the Go module proxy for the karpctl test harness.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
