//go:build !amd64 && !arm64

package docker

// pauseBinary is empty where no pause program is embedded; RunSandbox then
// fails with an explanation.
var pauseBinary []byte
