package notify

import (
	"errors"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// CheckFiles reads the files on the host a channel's spec names (secrets,
// a Slack URL and its digest, an e-mail CA) as a send would, and returns
// what a send would fail with, each error naming its attribute: the
// channel controller calls it before a spec is written, so a missing file
// or one open to other users fails the apply instead of the first alert.
func CheckFiles(spec api.NotificationChannel) error {
	var errs []error
	secret := func(attr, file string) {
		if file == "" {
			return
		}
		if _, err := readSecretFile(attr, file); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case spec.Webhook != nil:
		secret("webhook.secret_file", spec.Webhook.SecretFile)
		secret("webhook.authorization_file", spec.Webhook.AuthorizationFile)
	case spec.Alertmanager != nil:
		secret("alertmanager.authorization_file", spec.Alertmanager.AuthorizationFile)
	case spec.Email != nil:
		secret("email.password_file", spec.Email.PasswordFile)
		if spec.Email.CAFile != "" {
			if _, err := (&emailSender{cfg: *spec.Email}).tlsConfig(); err != nil {
				errs = append(errs, err)
			}
		}
	case spec.Slack != nil:
		if _, err := slackHook(*spec.Slack); err != nil {
			errs = append(errs, err)
		}
	}
	if h := spec.Heartbeat; h != nil && h.URLFile != "" {
		if _, err := readSecretURL("heartbeat.url_file", h.URLFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
