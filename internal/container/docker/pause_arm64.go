package docker

import _ "embed"

//go:embed pause_arm64.bin
var pauseBinary []byte
