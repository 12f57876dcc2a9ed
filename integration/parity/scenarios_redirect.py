"""Parity scenarios of redirects, literal answers and path rewrites (issue 13 item 6; the table is
``table.SCENARIOS``)."""

from __future__ import annotations

from integration.parity.scenario import S, Scenario, _req

HOSTILE_BODY = 'Down "for" {maint}; #1 %[src] & <b>x</b> (back at 10:00)?'  # quotes, braces, ';', '#', '%['

A = "Redirects and rewrites"
RE = ["status", "location"]
SEEN = ["status", "uri"]
WWW = {"Host": "www.example.com"}

SCENARIOS_REDIRECT: tuple[Scenario, ...] = (
    S("redirect-apex-www", A, "the apex to www: an absolute Location on the request's scheme, path and query kept "
      "(also with a port in Host)", "redirects", "answers",
      {"port": 240, "requests": [_req("/p/q?a=1&b=2", headers={"Host": "example.com"}),
                                 _req("/", headers={"Host": "example.com:8080"})], "show": RE},
      [{"status": 301, "location": "http://www.example.com/p/q?a=1&b=2"},
       {"status": 301, "location": "http://www.example.com/"}],
      ("Route.redirect", "Redirect.to_host", "Redirect.status", "Redirect.keep_query")),
    S("redirect-statuses", A, "each status; a relative Location: the prefix replaced (the rest and the query kept, "
      "a bare '?' too), one path without or with the query, another host with a new prefix", "redirects",
      "answers",
      {"port": 240, "requests": [_req("/old/a/b?x=1", headers=WWW), _req("/r301/deep/x?"), _req("/r302/any?q=1"),
                                 _req("/r307/a?q"), _req("/r308/z?k=v"), _req("/r301/")], "show": RE},
      [{"status": 308, "location": "/new/a/b?x=1"}, {"status": 301, "location": "/n/deep/x?"},
       {"status": 302, "location": "/landing"}, {"status": 307, "location": "http://www.example.com/x/a?q"},
       {"status": 308, "location": "/landing?k=v"}, {"status": 301, "location": "/n/"}],
      ("Redirect.status", "Redirect.to_path", "Redirect.to_path_prefix", "Redirect.keep_query")),
    S("redirect-precedence", A, "routing precedence is unchanged: a longer prefix without host beats the apex's "
      "redirect; another host is not redirected", "redirects", "answers",
      {"port": 240, "requests": [_req("/healthz", headers={"Host": "example.com"}),
                                 _req("/old/a", headers={"Host": "other.org"})], "show": ["status", "text", "uri"]},
      [{"status": 200, "text": "ok", "uri": None}, {"status": 200, "text": None, "uri": "/old/a"}],
      ("Route.redirect", "Route.path_prefix")),
    S("rewrite-strip", A, "strip_prefix: the backend sees what follows the prefix after a '/' (/api/v1 and /api/v1x "
      "too), the query kept", "redirects", "answers",
      {"port": 240, "requests": [_req("/api/v1/users?id=7"), _req("/api/v1"), _req("/api/v1x"),
                                 _req("/api/v1/a/b/")], "show": SEEN},
      [{"status": 200, "uri": "/users?id=7"}, {"status": 200, "uri": "/"}, {"status": 200, "uri": "/x"},
       {"status": 200, "uri": "/a/b/"}], ("Route.rewrite", "Rewrite.strip_prefix")),
    S("rewrite-replace", A, "replace_prefix: the prefix swapped for another, the rest and the query kept",
      "redirects", "answers",
      {"port": 240, "requests": [_req("/old-app/p/q?z=1"), _req("/old-app/")], "show": SEEN},
      [{"status": 200, "uri": "/app/p/q?z=1"}, {"status": 200, "uri": "/app/"}],
      ("Route.rewrite", "Rewrite.replace_prefix")),
    S("rewrite-hostile-prefix", A, "prefixes holding every punctuation a path prefix may ('.', '~', '_', '-'; "
      "'.' is any character to an unescaped regex): a rewrite and a redirect of exactly that prefix", "redirects", "answers",
      {"port": 240, "requests": [_req("/v1.0~x_y-z/k?z=1"), _req("/r.d~_-/p?q=1")],
       "show": ["status", "uri", "location"]},
      [{"status": 200, "uri": "/w.0~_-/k?z=1", "location": None},
       {"status": 302, "uri": None, "location": "/n.d~_-/p?q=1"}],
      ("Route.rewrite", "Route.redirect", "Rewrite.replace_prefix", "Redirect.to_path_prefix")),
    S("redirect-slashes", A, "a new prefix ending in '/': the rest's leading slashes and backslashes are dropped "
      "(/to-root//evil.com to '/' is /evil.com, never the other host //evil.com); plain paths as before",
      "redirects", "answers",
      {"port": 240, "requests": [_req("/to-root//evil.com/a?q=1"), _req("/to-root/\\evil.com"),
                                 _req("/to-root/\\/\\evil.com?x"), _req("/to-root/p//q\\r?z=1"),
                                 _req("/r301//evil.com")], "show": RE},
      [{"status": 301, "location": "/evil.com/a?q=1"}, {"status": 301, "location": "/evil.com"},
       {"status": 301, "location": "/evil.com?x"}, {"status": 301, "location": "/p//q\\r?z=1"},
       {"status": 301, "location": "/n/evil.com"}],
      ("Redirect.to_path_prefix",)),
    S("rewrite-slashes", A, "replace_prefix '/' and strip_prefix: the backend never sees a path starting '//' or "
      "'/\\' (the rest's leading slashes and backslashes dropped); plain paths as before", "redirects", "answers",
      {"port": 240, "requests": [_req("/rw-root//evil.com/a?q=1"), _req("/rw-root/\\evil.com"),
                                 _req("/api/v1//evil.com"), _req("/api/v1/\\evil.com?q"), _req("/rw-root/p/q?z=1")],
       "show": SEEN},
      [{"status": 200, "uri": "/evil.com/a?q=1"}, {"status": 200, "uri": "/evil.com"},
       {"status": 200, "uri": "/evil.com"}, {"status": 200, "uri": "/evil.com?q"}, {"status": 200, "uri": "/p/q?z=1"}],
      ("Rewrite.replace_prefix", "Rewrite.strip_prefix")),
    S("respond-body", A, "respond: the status, the literal body as written (quotes, braces, ';', '#', '%[' "
      "included) and the model's Content-Type, whatever the path's extension; never compressed", "redirects",
      "answers",
      {"port": 240, "requests": [_req("/healthz"), _req("/maint/x.json", headers={"Accept-Encoding": "gzip"})],
       "show": ["status", "type", "text"]},
      [{"status": 200, "type": "text/plain", "text": "ok"},
       {"status": 503, "type": "text/html", "text": HOSTILE_BODY}],
      ("Route.respond", "Respond.status", "Respond.body", "Respond.content_type")),
    S("respond-before-access", A, "redirects and answers come before access lists (c1 is denied) and limits, as "
      "the HTTPS redirect: c1 gets the answer and the redirect, then 403", "redirects", "answers",
      {"port": 241, "requests": [_req("/healthz"), _req("/go/"), _req("/x")], "show": ["status", "location"]},
      [{"status": 200, "location": None}, {"status": 301, "location": "/x"}, {"status": 403, "location": None}],
      ("Route.respond", "Route.redirect", "Access.deny")),
    S("respond-not-counted", A, "answered requests do not count against the rate limit (1/s, burst 0): three "
      "answers, then the first proxied request passes and the second is refused", "redirects", "answers",
      {"port": 241, "client": "c2", "requests": [_req("/healthz"), _req("/healthz"), _req("/go/"), _req("/x"),
                                                 _req("/x")], "show": ["status"]},
      [{"status": 200}, {"status": 200}, {"status": 301}, {"status": 200}, {"status": 429}],
      ("Route.respond", "Limits.requests_per_second")),
    S("redirect-header-route", A, "a header route that redirects, falling back to a route of the same prefix that "
      "proxies", "redirect_header", "answers",
      {"port": 242, "requests": [_req("/beta/x", headers={"X-Beta": "1"}), _req("/beta/x")], "show": RE},
      [{"status": 301, "location": "http://beta.example.com/beta/x"}, {"status": 200, "location": None}],
      ("Route.redirect", "Route.header"),
      refused={"nginx": "NGINX redirects, answers and rewrites per host and path, not per header"}),
)
