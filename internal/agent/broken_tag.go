//go:build stewardbroken

package agent

func init() { deliberatelyBroken = true }
