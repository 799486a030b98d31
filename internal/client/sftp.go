package client

import (
	"context"
	"fmt"

	"github.com/pkg/sftp"
)

// SFTP opens an SFTP client over the connection (the server's "sftp"
// subsystem), for backup destinations on another machine. Closing the
// returned client leaves the connection open.
func (c *Conn) SFTP(ctx context.Context) (*sftp.Client, error) {
	cl, err := c.client(ctx, nil)
	if err != nil {
		return nil, err
	}
	sc, err := sftp.NewClient(cl, sftp.UseFstat(true))
	if err != nil {
		return nil, fmt.Errorf("start sftp on %s: %w", c.Address(), err)
	}
	return sc, nil
}
