package agent

import "errors"

// deliberatelyBroken is set only in builds with the stewardbroken tag, which
// acceptance tests ship to prove that a failed upgrade is rolled back.
var deliberatelyBroken = false

var errDeliberatelyBroken = errors.New("this steward-agent is a deliberately broken test build (tag stewardbroken): the daemon refuses to start")
