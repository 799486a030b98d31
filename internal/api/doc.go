// Package api is the wire contract between the Steward provider and
// steward-agent, and the only one: nothing else crosses the SSH connection.
//
// The provider runs `steward-agent rpc` on a host (as root through `sudo -n`
// when the connection asks for it), writes one JSON-encoded Request to its
// standard input and reads one JSON-encoded Response from its standard output.
// The agent exits 0 whenever it wrote a Response, including one that carries an
// Error: failures are reported in band, so the provider always has a structured
// reason to show.
//
// Every Request and Response carries ProtocolVersion. The agent answers a
// request with any other protocol with CodeProtocolMismatch and a message
// telling the operator to apply steward_host, which installs the agent binary
// embedded in the provider and so brings both sides to the same protocol.
// Change ProtocolVersion whenever a type in this package changes in a way an
// older peer would misread; adding a method does not need a new protocol,
// because an older agent answers CodeUnknownMethod.
//
// Field names are snake_case on the wire. Each method has a name constant
// (MethodHealth), and its parameter and result types live beside it.
package api
