// Command kube-apiserver is the upstream API server, built from the module proxy so the
// tests can run against a real one on a machine without prebuilt Kubernetes binaries.
package main

import (
	"os"
	_ "time/tzdata" // CronJob time zones validate without the host's zoneinfo

	"k8s.io/component-base/cli"
	// Register the JSON log format and the client-go and version metrics exactly as the
	// upstream binary does, so flags and /metrics behave the same.
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
