package testregistry

import "net/http"

// StatusWriter is a ResponseWriter that remembers the first status sent:
// Code stays 0 until the handler writes a header or a body (a body alone
// means 200). The vendor API replicas, the e2e hooks and the benchmark
// proxy record the answers they give with it.
type StatusWriter struct {
	http.ResponseWriter
	Code int
}

// WriteHeader records code (the first one counts) and sends it.
func (w *StatusWriter) WriteHeader(code int) {
	if w.Code == 0 {
		w.Code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records 200 when nothing was sent yet, then writes b.
func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.Code == 0 {
		w.Code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Status is the status the client got: Code, or 200 when the handler
// wrote nothing (net/http sends 200 then).
func (w *StatusWriter) Status() int {
	if w.Code == 0 {
		return http.StatusOK
	}
	return w.Code
}

// Unwrap gives http.ResponseController the writer underneath (Flush).
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
