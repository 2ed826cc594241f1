// Package loadtest holds load tests and benchmarks of many teams and
// kernels sharing one Jupyter server. Run the long variant with
// AGENTTEAM_LOADTEST_LONG=1.
package loadtest
