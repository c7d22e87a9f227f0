package cli

import "github.com/minicloud/minicloud/internal/node"

func versionString() string { return node.Version }
