#!/bin/sh
# Managed by converge: after certbot renews __DOMAIN__, reload nginx so that it
# serves the new certificate, but never with a configuration nginx -t rejects.
set -e
case " ${RENEWED_DOMAINS:-} " in
  *" __DOMAIN__ "*) ;;
  *) exit 0 ;;
esac
__NGINX_COMMAND__ -t -q
__NGINX_RELOAD_COMMAND__
