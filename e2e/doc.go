// Package e2e holds end-to-end tests that run real `minicloud serve` processes and drive them with
// real clients (minio-go, aws-sdk-go-v2, the minicloud CLI), including SIGKILL crash tests.
package e2e
