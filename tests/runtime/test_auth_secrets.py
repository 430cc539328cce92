"""Auth from secrets (bearer, api_key, basic, oauth2) and secret hygiene."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from integc.runtime import FlowRunner
from integc.runtime.errors import SecretError
from integc.runtime.secrets import SecretStore, env_name
from integc.runtime.standin import Fault, StandIn, TokenServer

CLIENT_ID = "integc-client-7Hq2"
CLIENT_SECRET = "oauth-secret-T0p5ecretVa1ue"


def oauth_doc(h, src, tgt, token_url):
    doc = h.flow_doc(src.base_url, tgt.base_url)
    doc["source"]["auth"] = {"kind": "oauth2", "token_url": token_url, "scopes": ["api", "read"],
                             "secret": "crm-oauth-client"}
    return doc


@pytest.fixture
def oauth_env(environ):
    environ["INTEGC_SECRET_CRM_OAUTH_CLIENT_CLIENT_ID"] = CLIENT_ID
    environ["INTEGC_SECRET_CRM_OAUTH_CLIENT_CLIENT_SECRET"] = CLIENT_SECRET
    return environ


@pytest.fixture
def tokens():
    servers = []

    def make(**kw):
        t = TokenServer(CLIENT_ID, CLIENT_SECRET, **kw).start()
        servers.append(t)
        return t

    yield make
    for t in servers:
        t.stop()


def test_oauth2_token_fetched_cached_and_refreshed_on_401(systems, bundle, oauth_env, bounded,
                                                          tokens, logs, h, tmp_path):
    tok = tokens()
    pages = [0]
    lock = threading.Lock()

    def fault(req):
        with lock:
            pages[0] += 1
            if pages[0] == 3:  # the token is revoked mid-run: next call answers 401
                tok.revoke_all()
        return None

    src, tgt = systems(1000, source_kw={"auth": tok.valid, "fault": fault})
    runner = FlowRunner(bundle(oauth_doc(h, src, tgt, tok.token_url)), once=True,
                        environ=oauth_env, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert len(tgt.store) == 1000
    assert tok.issued == 2  # once at start, once after the 401; cached for the other pages
    assert tok.scopes_seen == ["api read", "api read"]
    assert src.requests_by_method["GET"] == 11  # 10 pages + the one that got 401
    assert CLIENT_SECRET not in logs.text
    assert len(logs.where(msg="oauth2 token fetched")) == 2


def test_oauth2_token_expiry_fetches_a_new_one(systems, bundle, oauth_env, bounded, tokens, h,
                                              tmp_path):
    tok = tokens(expires_in=0.2)  # skew (10%) keeps a margin before expiry
    calls = [0]

    def slow(req):
        calls[0] += 1
        return Fault(delay_s=0.25) if calls[0] == 2 else None

    src, tgt = systems(300, source_kw={"auth": tok.valid, "fault": slow})
    runner = FlowRunner(bundle(oauth_doc(h, src, tgt, tok.token_url)), once=True,
                        environ=oauth_env, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert len(tgt.store) == 300
    assert tok.issued >= 2


def test_oauth2_client_secret_post_fallback(systems, bundle, oauth_env, bounded, tokens, h,
                                            tmp_path):
    tok = tokens(accept=("post",))
    src, tgt = systems(250, source_kw={"auth": tok.valid})
    runner = FlowRunner(bundle(oauth_doc(h, src, tgt, tok.token_url)), once=True,
                        environ=oauth_env, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert len(tgt.store) == 250
    assert tok.refused == 1 and tok.issued == 1  # basic refused once, then form auth remembered


def test_oauth2_bad_credentials_fail_the_read(systems, bundle, oauth_env, bounded, tokens, logs,
                                              h, tmp_path):
    tok = tokens()
    oauth_env["INTEGC_SECRET_CRM_OAUTH_CLIENT_CLIENT_SECRET"] = "wrong-secret-Xy9"
    src, tgt = systems(10, source_kw={"auth": tok.valid})
    runner = FlowRunner(bundle(oauth_doc(h, src, tgt, tok.token_url)), once=True,
                        environ=oauth_env, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 1
    assert "401" in runner.summary.source_error
    assert "wrong-secret-Xy9" not in logs.text


def test_target_oauth2_401_on_write_refreshes_once(systems, bundle, oauth_env, bounded, tokens,
                                                   h, tmp_path):
    tok = tokens()
    n = [0]
    lock = threading.Lock()

    def fault(req):
        with lock:
            n[0] += 1
            if n[0] == 20:
                tok.revoke_all()
        return None

    src, tgt = systems(60, target_kw={"auth": tok.valid, "fault": fault})
    doc = h.flow_doc(src.base_url, tgt.base_url)
    doc["target"]["auth"] = {"kind": "oauth2", "token_url": tok.token_url, "scopes": [],
                             "secret": "crm-oauth-client"}
    runner = FlowRunner(bundle(doc), once=True, environ=oauth_env, dead_letter_dir=tmp_path / "dl",
                        concurrency=4)
    assert bounded.run(runner) == 0
    assert len(tgt.store) == 60 and runner.summary.written == 60
    assert tok.issued == 2  # concurrent 401s share one refresh


def test_basic_auth_from_mounted_files(systems, bundle, environ, bounded, h, tmp_path):
    secret_dir = tmp_path / "secrets" / "erp-basic"
    secret_dir.mkdir(parents=True)
    (secret_dir / "username").write_text("svc-integc\n")
    (secret_dir / "password").write_text("pa55-w0rd-file\n")
    expected = "Basic " + base64.b64encode(b"svc-integc:pa55-w0rd-file").decode()
    src, tgt = systems(5, target_kw={"auth": lambda hd: hd.get("Authorization") == expected})
    doc = h.flow_doc(src.base_url, tgt.base_url)
    doc["target"]["auth"] = {"kind": "basic", "secret": "erp-basic"}
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert len(tgt.store) == 5


def test_missing_secret_is_a_clear_startup_error(systems, bundle, environ, bounded, logs, h,
                                                 tmp_path):
    src, tgt = systems(1)
    del environ["INTEGC_SECRET_BILLING_API_KEY_API_KEY"]
    runner = FlowRunner(bundle(h.flow_doc(src.base_url, tgt.base_url)), once=True,
                        environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 2
    err = logs.where(msg="cannot start the flow")[0]["error"]
    assert "INTEGC_SECRET_BILLING_API_KEY_API_KEY" in err
    assert "billing-api-key/api-key" in err
    assert src.request_count == 0


def test_secrets_never_appear_in_logs_or_dead_letters(systems, bundle, environ, bounded, logs, h,
                                                      tmp_path):
    key = h.SECRETS["INTEGC_SECRET_BILLING_API_KEY_API_KEY"]
    token = h.SECRETS["INTEGC_SECRET_CRM_TOKEN_TOKEN"]

    def echo(req):  # a careless target that echoes the credential back in its error
        return Fault(status=500, body={"title": "boom", "detail": f"bad key {req.headers['X-Api-Key']}"})

    src, tgt = systems(5, target_kw={"fault": echo})
    doc = h.flow_doc(src.base_url, tgt.base_url,
                     retry={"attempts": 2, "backoff": "fixed", "initial_ms": 1, "max_ms": 1})
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert runner.summary.dead_lettered == 5
    assert "bad key ***" in logs.text
    dl = (tmp_path / "dl" / "sync_customers.jsonl").read_text()
    for value in (key, token):
        assert value not in logs.text
        assert value not in dl
    assert len(logs.lines()) > 10


def test_secret_store_lookup_order(tmp_path):
    (tmp_path / "crm-token").mkdir()
    (tmp_path / "crm-token" / "token").write_text("from-file\n")
    assert env_name("crm-token", "token") == "INTEGC_SECRET_CRM_TOKEN_TOKEN"
    assert env_name("wh.client", "tls.crt") == "INTEGC_SECRET_WH_CLIENT_TLS_CRT"
    store = SecretStore({"INTEGC_SECRETS_DIR": str(tmp_path)})
    assert store.get("crm-token", "token") == "from-file"
    store = SecretStore({"INTEGC_SECRETS_DIR": str(tmp_path),
                         "INTEGC_SECRET_CRM_TOKEN_TOKEN": "from-env"})
    assert store.get("crm-token", "token") == "from-env"
    with pytest.raises(SecretError) as err:
        SecretStore({"INTEGC_SECRETS_DIR": str(tmp_path)}).get("crm-token", "nope")
    assert "INTEGC_SECRET_CRM_TOKEN_NOPE" in str(err.value)
    assert "from-file" not in str(err.value)


def test_secret_value_redacted_even_in_exceptions(logs):
    import logging

    from integc.runtime.logs import get_logger, log_event, register_secret

    register_secret("hunter2-hunter2")
    log = get_logger("t")
    try:
        raise ValueError("token hunter2-hunter2 rejected")
    except ValueError:
        log.exception("oops")
    log_event(log, logging.INFO, "x", detail={"nested": ["hunter2-hunter2"]})
    assert "hunter2-hunter2" not in logs.text
    assert logs.text.count("***") >= 2
    json.loads(logs.text.splitlines()[0])


def _openssl(*args, cwd):
    import subprocess

    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture
def pki(tmp_path):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl CLI)."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available")
    d = tmp_path / "pki"
    d.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=integc test CA", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"),
                      ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=integc {name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
                 cwd=d)
    return d


def test_mtls_client_certificate(systems, bundle, environ, bounded, pki, h, tmp_path):
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    ctx.load_verify_locations(pki / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED
    src, _ = systems(30)
    tgt = StandIn("/accounts", "account_id", ssl_context=ctx).start()
    try:
        # files mounted like the manifests do, except the key, given through the environment
        sdir = tmp_path / "secrets" / "wh-client-cert"
        sdir.mkdir(parents=True)
        (sdir / "tls.crt").write_bytes((pki / "client.crt").read_bytes())
        (sdir / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
        environ["INTEGC_SECRET_WH_CLIENT_CERT_TLS_KEY"] = (pki / "client.key").read_text()
        doc = h.flow_doc(src.base_url, tgt.base_url)
        doc["target"]["auth"] = {"kind": "mtls", "secret": "wh-client-cert"}
        runner = FlowRunner(bundle(doc), once=True, environ=environ,
                            dead_letter_dir=tmp_path / "dl")
        assert bounded.run(runner) == 0
        assert len(tgt.store) == 30

        # without the secret's CA the server is not trusted: a TLS failure, not retried
        doc["target"]["auth"] = {"kind": "none"}
        environ["INTEGC_SECRETS_DIR"] = str(tmp_path / "secrets")
        runner = FlowRunner(bundle(doc), once=True, environ=environ,
                            dead_letter_dir=tmp_path / "dl2")
        assert bounded.run(runner) == 0
        assert runner.summary.dead_lettered == 30 and runner.summary.retries == 0
        letters = (tmp_path / "dl2" / "sync_customers.jsonl").read_text()
        assert "certificate" in letters
    finally:
        tgt.stop()
