#!/usr/bin/env bash
# Prepares what the test suite needs outside Python, idempotently, and writes
# ./.test-env with the variables the tests read. Each step says what it did;
# a step that cannot run here (not root, no package) says so and the tests that
# need it report themselves as skipped with that reason.
set -u
cd "$(dirname "$0")/.."
: > .test-env

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

# 1. Headless Chromium + ChromeDriver (Debian's) for the end-to-end browser tests.
if ! command -v chromium >/dev/null 2>&1; then
  if can_apt; then
    echo "test-services: installing Debian chromium for browser tests"
    apt_install chromium chromium-driver || echo "test-services: chromium install failed"
  else
    echo "test-services: no chromium and no apt-get as root: browser tests will be skipped"
  fi
fi
if command -v chromium >/dev/null 2>&1; then
  echo "export OTSTUDIO_CHROMIUM=$(command -v chromium)" >> .test-env
fi

# 2. PostgreSQL for the store tests that run against a real server.
if ! command -v pg_lsclusters >/dev/null 2>&1 && can_apt; then
  echo "test-services: installing Debian postgresql for store tests"
  apt_install postgresql || echo "test-services: postgresql install failed"
fi
if command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  read -r ver cluster port status _ < <(pg_lsclusters --no-header | head -n 1)
  if [ -n "${ver:-}" ]; then
    if [ "$status" != "online" ]; then pg_ctlcluster "$ver" "$cluster" start >/dev/null 2>&1 || true; fi
    for _ in $(seq 1 20); do pg_isready -q -p "$port" && break; sleep 0.5; done
    if pg_isready -q -p "$port"; then
      su postgres -c "psql -q -p $port -tc \"SELECT 1 FROM pg_roles WHERE rolname='otstudio'\"" | grep -q 1 \
        || su postgres -c "psql -q -p $port -c \"CREATE ROLE otstudio LOGIN PASSWORD 'otstudio' CREATEDB\"" >/dev/null
      echo "export OTSTUDIO_TEST_POSTGRES_URL=postgresql+psycopg2://otstudio:otstudio@127.0.0.1:$port/postgres" >> .test-env
      echo "test-services: PostgreSQL $ver on port $port is ready"
    else
      echo "test-services: PostgreSQL did not start: PostgreSQL store tests will be skipped"
    fi
  fi
else
  echo "test-services: no PostgreSQL server here: PostgreSQL store tests will be skipped"
fi
# 3. nginx (Debian's) and a self-signed certificate for the HTTPS reverse-proxy browser test.
if ! command -v nginx >/dev/null 2>&1 && ! [ -x /usr/sbin/nginx ]; then
  if can_apt; then
    echo "test-services: installing Debian nginx for the HTTPS proxy test"
    apt_install nginx-light openssl || apt_install nginx openssl || echo "test-services: nginx install failed"
  else
    echo "test-services: no nginx and no apt-get as root: the HTTPS proxy test will be skipped"
  fi
fi
nginx_bin=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
if [ -n "$nginx_bin" ] && command -v openssl >/dev/null 2>&1; then
  tls=.test-services/tls
  mkdir -p "$tls"
  if ! [ -s "$tls/cert.pem" ] || ! [ -s "$tls/key.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -keyout "$tls/key.pem" -out "$tls/cert.pem" >/dev/null 2>&1 || echo "test-services: openssl failed"
  fi
  if [ -s "$tls/cert.pem" ]; then
    { echo "export OTSTUDIO_TEST_NGINX=$nginx_bin"
      echo "export OTSTUDIO_TEST_TLS_CERT=$PWD/$tls/cert.pem"
      echo "export OTSTUDIO_TEST_TLS_KEY=$PWD/$tls/key.pem"; } >> .test-env
    echo "test-services: nginx ($nginx_bin) and a self-signed certificate are ready"
  fi
else
  echo "test-services: no nginx or openssl: the HTTPS proxy test will be skipped"
fi
exit 0
