// Package jupytertest starts a real jupyter-server for tests and finds
// processes left behind.
//
// When jupyter-server is not installed, tests that need it are skipped, except
// on CI (CI=true), where a missing server is a failure.
//
// The harness reads /proc: it builds on Linux only.
package jupytertest
