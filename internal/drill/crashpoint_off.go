//go:build !crashpoints || !unix

package drill

// crashPoint does nothing: only test builds (-tags crashpoints) stop at a drill's steps.
func crashPoint(string) {}
