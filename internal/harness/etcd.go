package harness

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// CompactEtcd writes one key of its own (outside the API server's /registry prefix) to move etcd's
// revision on, then compacts the history up to that revision, as the API server's periodic
// compaction does, and returns the revision. Every resourceVersion read before the call is then
// compacted: continue tokens of lists that began before it expire (410 Gone), which tests use to
// exercise the clients' recovery. It speaks etcd's JSON gateway on the loopback client URL.
func (e *Env) CompactEtcd(ctx context.Context) (int64, error) {
	var put struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	key := base64.StdEncoding.EncodeToString([]byte("/karpctl-harness/compaction"))
	if err := e.etcdPost(ctx, "/v3/kv/put", map[string]any{"key": key, "value": key}, &put); err != nil {
		return 0, err
	}
	rev, err := strconv.ParseInt(put.Header.Revision, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("etcd revision %q: %w", put.Header.Revision, err)
	}
	if err := e.etcdPost(ctx, "/v3/kv/compaction", map[string]any{"revision": strconv.FormatInt(rev, 10), "physical": true}, nil); err != nil {
		return 0, err
	}
	return rev, nil
}

func (e *Env) etcdPost(ctx context.Context, path string, body, into any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.etcdURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %s: %s", path, resp.Status, out)
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(out, into)
}
