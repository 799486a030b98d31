"""A test SMTP server on aiosmtpd (Debian: python3-aiosmtpd) that saves each
message it accepts as a file, with STARTTLS, implicit TLS or none, and
optionally requiring authentication. aiosmtpd's CLI can neither require
AUTH nor check a password, hence this file."""
import argparse
import os
import ssl
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--mode", choices=["starttls", "implicit", "none"], required=True)
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--user")
p.add_argument("--password")
p.add_argument("--only-login", action="store_true")
p.add_argument("--maildir", required=True)
args = p.parse_args()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        user = session.login_data.decode() if session.authenticated and session.login_data else ""
        tls = server.transport.get_extra_info("ssl_object") is not None
        name = os.path.join(args.maildir, "%d.eml" % time.time_ns())
        with open(name + ".tmp", "wb") as f:
            f.write(("X-Test-Envelope-From: %s\r\nX-Test-Envelope-To: %s\r\nX-Test-Auth-User: %s\r\nX-Test-TLS: %s\r\n"
                     % (envelope.mail_from, ",".join(envelope.rcpt_tos), user, tls)).encode())
            f.write(envelope.original_content)
        os.rename(name + ".tmp", name)
        return "250 OK saved"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == args.user
          and auth_data.password.decode() == args.password)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


ctx = None
if args.cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)

kwargs = dict(hostname="127.0.0.1", port=args.port, decode_data=False)
if args.user:
    # aiosmtpd counts only STARTTLS as TLS, not a connection that began with it.
    kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=args.mode == "starttls")
    if args.only_login:
        kwargs.update(auth_exclude_mechanism=["PLAIN"])
if args.mode == "starttls":
    kwargs.update(tls_context=ctx, require_starttls=True)
elif args.mode == "implicit":
    kwargs.update(ssl_context=ctx)

controller = Controller(Handler(), **kwargs)
controller.start()
print("ready", flush=True)
threading.Event().wait()
