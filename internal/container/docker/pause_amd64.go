package docker

import _ "embed"

//go:embed pause_amd64.bin
var pauseBinary []byte
