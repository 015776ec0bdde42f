#!/usr/bin/env python3
"""The data set of the upgrade fixture, and the reports it is checked by.

Used by scripts/make-upgrade-fixture.sh against a running `rollcall serve` of
the OLD version:

    upgrade-fixture-data.py fill   BASE API_KEY     # writes the data set
    upgrade-fixture-data.py record BASE API_KEY OUT # records every report

Only the public API is used (standard library HTTP, no third-party client), so
what the fixture holds is what a real deployment of that version could hold.
Every date is fixed (November 2026) and every report names its dates
(`asOfDate`, `from`/`to`, `startDate`/`endDate`), so the recorded answers do
not drift with the clock; retention is set to ten years so that nothing ages
out before the test reads it.

`record` asks every report twice and fails if the answers differ: a report that
is not a function of the stored data cannot be compared across versions.
"""

import json
import sys
import urllib.error
import urllib.request

AS_OF = "2026-11-28"
FROM = "2026-11-01"
TZ = "America/New_York"


class Api:
    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key

    def call(self, method, path, body=None, content_type="application/json"):
        data = None
        headers = {"Authorization": f"Bearer {self.key}"}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text.decode(errors="replace")

    def ok(self, method, path, body=None, content_type="application/json"):
        status, answer = self.call(method, path, body, content_type)
        if status != 200:
            sys.exit(f"{method} {path}: {status} {answer}")
        return answer


def ms(day, hour, minute=0):
    """Milliseconds of 2026-11-DAY HH:MM UTC."""
    import calendar

    return calendar.timegm((2026, 11, day, hour, minute, 0)) * 1000


PEOPLE = [
    # email, first, last, team, location, title, manager, cost centre, region
    ("ana@corp.example", "Ana", "Alves", "Sales", "Lisbon", "AE", None, "CC-1", "EMEA"),
    ("ben@corp.example", "Ben", "Brown", "Sales", "Boston", "AE", "ana@corp.example", "CC-1", "NA"),
    ("cai@corp.example", "Cai", "Chen", "Support", "Boston", "Agent", "ana@corp.example", "CC-2", "NA"),
    ("dee@corp.example", "Dee", "Diaz", "Support", None, "Agent", "cai@corp.example", "CC-2", None),
    ("eli@corp.example", "Eli", "Evans", "Engineering", "Berlin", "Dev", None, "CC-3", "EMEA"),
    ("fay@corp.example", "Fay", "Fox", None, "Berlin", "Dev", "eli@corp.example", None, "EMEA"),
]


def fill(api):
    # Settings first: a non-UTC zone (days are local days), long retention,
    # no rate limit in the way, a passive limit other than the default.
    api.ok("PATCH", "/admin/v1/settings", {
        "timeZone": TZ, "passiveLimitMinutes": 3, "activityRetentionDays": 3650,
        "usageRetentionDays": 3650, "rateLimit": {"perSecond": 100000, "burst": 100000}})

    # The org chart in two parts, with a custom field and an alias.
    snap = api.ok("POST", "/services/push/v1/customer/org-chart",
                  {"orgChartName": "Nov 2026", "customFieldsConfig": ["region"]})
    users = []
    for (email, first, last, team, loc, title, mgr, cc, region) in PEOPLE:
        u = {"email": email, "firstName": first, "lastName": last, "title": title}
        for k, v in (("team", team), ("location", loc), ("managerEmail", mgr),
                     ("costCenter", cc), ("region", region)):
            if v is not None:
                u[k] = v
        users.append(u)
    users[0]["additionalEmails"] = ["ana.alves@corp.example"]
    api.ok("PUT", f"/services/push/v1/customer/org-chart/{snap['id']}", {"hasMore": True, "users": users[:3]})
    api.ok("PUT", f"/services/push/v1/customer/org-chart/{snap['id']}", {"hasMore": False, "users": users[3:]})

    # Two apps: one with licence tiers and feature groups, one bare.
    mail = api.ok("POST", "/services/push/v1/customer/apps", {
        "name": "Mail", "category": "Communication", "description": "Team mail", "sso": True,
        "events": [
            {"eventName": "sent", "eventType": "Produce", "groups": ["Sent an Email"], "minLicenseTier": "Basic"},
            {"eventName": "read", "eventType": "Consume", "groups": ["Read an Email"]},
            {"eventName": "rule", "eventType": "Produce", "groups": ["Automation"], "minLicenseTier": "Pro"},
        ],
        "licenseTiers": [
            {"name": "Basic", "tier": 0, "features": ["mail"], "annualCost": 60.0, "currency": "USD"},
            {"name": "Pro", "tier": 1, "features": ["mail", "rules"], "annualCost": 180.0, "currency": "USD"},
        ]})["appId"]
    wiki = api.ok("POST", "/services/push/v1/customer/apps", {
        "name": "Wiki", "category": "Knowledge", "sso": False,
        "events": [{"eventName": "edit", "eventType": "Produce", "groups": ["Edited"]},
                   {"eventName": "view", "eventType": "Consume"}]})["appId"]

    api.ok("POST", f"/services/push/v1/customer/apps/{mail}/users", {"provisionedUsers": [
        {"appUserId": "m1", "email": "ana@corp.example", "license": "Pro"},
        {"appUserId": "m2", "email": "ben@corp.example", "license": "Pro"},
        {"appUserId": "m3", "email": "cai@corp.example", "license": "Basic"},
        {"appUserId": "m4", "email": "dee@corp.example", "license": "Basic"},
        {"appUserId": "m5", "email": "gus@contractor.example", "license": "Pro"},
    ]})
    api.ok("POST", f"/services/push/v1/customer/apps/{wiki}/users", {"provisionedUsers": [
        {"appUserId": "w1", "email": "eli@corp.example"},
        {"appUserId": "w2", "email": "fay@corp.example"},
    ]})

    # Usage over four weeks, pushed out of order, with duplicates, an alias,
    # an event near local midnight, and people outside the org chart.
    events = []
    for day in range(2, 29):
        for i, (email, *_rest) in enumerate(PEOPLE[:4]):
            if (day + i) % 3 == 0:
                continue
            events.append({"timestamp": ms(day, 13 + i), "email": email, "eventName": "read"})
            if (day * (i + 1)) % 4 == 0:
                events.append({"timestamp": ms(day, 15, 5 * i), "email": email, "eventName": "sent"})
    events.append({"timestamp": ms(27, 4, 30), "email": "ana.alves@corp.example", "eventName": "rule"})
    # 04:30 UTC on the 28th is still the 27th in New York.
    events.append({"timestamp": ms(28, 4, 30), "email": "ben@corp.example", "eventName": "sent"})
    events.append({"timestamp": ms(20, 12), "email": "gus@contractor.example", "eventName": "sent"})
    events.reverse()
    path = f"/services/push/v1/customer/apps/{mail}/events"
    api.ok("POST", path, {"events": events[: len(events) // 2]})
    api.ok("POST", path, {"events": events[len(events) // 2 - 5:]})  # five duplicates
    wiki_events = [{"timestamp": ms(d, 16), "email": e, "eventName": n}
                   for d in range(5, 29, 2)
                   for e, n in (("eli@corp.example", "edit"), ("fay@corp.example", "view"),
                                ("zed@elsewhere.example", "view"))]
    api.ok("POST", f"/services/push/v1/customer/apps/{wiki}/events", {"events": wiki_events})

    # Money: contracts and spend as CSV.
    contracts = (f"contractId,appId,vendor,startDate,endDate,licensesPurchased,annualCost,currency\n"
                 f"c-mail,{mail},Mailco,2026-01-01,2026-12-31,8,900,USD\n"
                 f"c-wiki,{wiki},Wikico,2026-07-01,2027-06-30,3,240,EUR\n")
    api.ok("POST", "/services/push/v1/customer/contracts/csv", contracts.encode(), "text/csv")
    spend = (f"signatureId,appId,created,amount,currency,type\n"
             f"s-1,{mail},{ms(3, 9)},75.00,USD,invoice\n"
             f"s-2,{mail},{ms(17, 9)},19.99,USD,expense\n"
             f"s-3,{wiki},{ms(10, 9)},20.00,EUR,invoice\n")
    api.ok("POST", "/services/push/v1/customer/spend/csv", spend.encode(), "text/csv")

    # Workforce: two computers in two time zones, idle stretches, websites,
    # a record across local midnight, a late backlog and a duplicate.
    def agent(computer, tz, client, session, records):
        return api.ok("POST", "/agent/v1/activity", {
            "computer": {"name": computer, "primaryDomain": "corp", "os": "Windows 11",
                         "timeZone": tz, "privateIp": "10.0.0.4", "publicIp": "203.0.113.9"},
            "client": {"loginDomain": "CORP", "name": client}, "session": session,
            "records": records})

    def rec(day, hour, minute, secs, exe, desc, url=None, idle=False):
        return {"start": f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00Z", "duration": secs,
                "executable": exe, "description": desc, "url": url, "idle": idle}

    for day in (23, 24, 25, 26, 27):
        agent("LT-001", "Europe/Berlin", "ana", 1, [
            rec(day, 8, 0, 1800, "outlook.exe", "Inbox - Outlook"),
            rec(day, 8, 30, 600, "chrome.exe", "YouTube", "https://www.youtube.com/watch?v=x"),
            rec(day, 8, 40, 400, "chrome.exe", "Wiki", "https://wiki.corp.example/page"),
            rec(day, 8, 46, 300, "outlook.exe", "Inbox - Outlook", idle=True),
            rec(day, 8, 51, 200, "outlook.exe", "Inbox - Outlook", idle=True),
            rec(day, 9, 0, 900, "steamwebhelper.exe", "Store"),
        ])
        agent("PC-NY", "America/New_York", "ben", 7, [
            rec(day, 14, 0, 3600, "excel.exe", "Budget.xlsx"),
            rec(day, 15, 0, 420, "excel.exe", "Budget.xlsx", idle=True),
        ])
    # 04:50 UTC = 23:50 in New York: split at local midnight.
    agent("PC-NY", "America/New_York", "ben", 7, [rec(26, 4, 50, 1200, "code.exe", "main.rs")])
    # The backlog of a computer that was offline, sent late, then again.
    backlog = [rec(d, 10, 0, 1500, "teams.exe", "Call") for d in range(16, 21)]
    agent("LT-002", "Europe/Berlin", "cai", 3, backlog)
    agent("LT-002", "Europe/Berlin", "cai", 3, backlog[:2])

    api.ok("PUT", "/admin/v1/classifications", {
        "applications": [{"executable": "outlook.exe", "productivity": 1},
                         {"executable": "excel.exe", "productivity": 1}],
        "websites": [{"domain": "youtube.com", "productivity": -1}],
        "rules": [{"match": "domainSuffix", "pattern": ".corp.example", "productivity": 1},
                  {"match": "executableGlob", "pattern": "steam*.exe", "productivity": -1}]})
    clients = api.ok("GET", "/admin/v1/clients")["clients"]
    computers = api.ok("GET", "/admin/v1/computers")["computers"]
    ana = next(c["id"] for c in clients if c["name"] == "ana")
    group = api.ok("POST", "/admin/v1/groups", {"name": "Lisbon office"})["id"]
    api.ok("PATCH", f"/admin/v1/groups/{group}", {"clients": [ana], "computers": [computers[0]["id"]]})
    api.ok("PATCH", f"/admin/v1/clients/{ana}", {"email": "ana@corp.example"})
    api.ok("PUT", "/admin/v1/classifications", {
        "applications": [{"executable": "outlook.exe", "productivity": 1},
                         {"executable": "excel.exe", "productivity": 1}],
        "websites": [{"domain": "youtube.com", "productivity": -1}],
        "rules": [{"match": "domainSuffix", "pattern": ".corp.example", "productivity": 1},
                  {"match": "executableGlob", "pattern": "steam*.exe", "productivity": -1}],
        "groupOverrides": [{"groupId": group, "domain": "youtube.com", "productivity": 1}]})

    # Web users and credentials: a viewer, a revoked key, an OAuth client.
    viewer = api.ok("POST", "/admin/v1/consumers",
                    {"email": "viewer@corp.example", "name": "Vic Viewer", "role": "viewer"})
    api.ok("POST", "/admin/v1/credentials", {"type": "apiKey", "name": "viewer key", "consumerId": viewer["id"]})
    revoked = api.ok("POST", "/admin/v1/credentials", {"type": "apiKey", "name": "old key"})
    api.ok("DELETE", f"/admin/v1/credentials/{revoked['id']}")
    api.ok("POST", "/admin/v1/credentials", {"type": "oauthClient", "name": "etl", "scopes": ["report.read", "apps.read"]})
    api.ok("POST", f"/services/push/v1/customer/apps/{wiki}/disconnect")


def report_paths(api):
    apps = api.ok("GET", f"/pull/v3/apps?asOfDate={AS_OF}")
    ids = [a["appId"] for a in sorted(apps["apps"], key=lambda a: a["name"])]  # Mail, Wiki
    groups = api.ok("GET", "/admin/v1/groups")["groups"]
    clients = api.ok("GET", "/admin/v1/clients")["clients"]
    computers = api.ok("GET", "/admin/v1/computers")["computers"]
    paths = [
        f"/pull/v3/apps?asOfDate={AS_OF}",
        f"/pull/v3/apps?asOfDate=2026-11-10",
    ]
    for app in ids:
        paths += [
            f"/pull/v2/apps/{app}?asOfDate={AS_OF}",
            f"/pull/v1/apps/{app}/users?asOfDate={AS_OF}&rollingWindow=30&pageSize=1000",
            f"/pull/v1/apps/{app}/users?asOfDate={AS_OF}&rollingWindow=7&pageSize=2",
            f"/pull/v1/apps/{app}/users?asOfDate={AS_OF}&rollingWindow=90&dataSource=provisioned",
            f"/pull/v1/apps/{app}/users?asOfDate={AS_OF}&rollingWindow=90&dataSource=employees",
            f"/pull/v1/apps/{app}/engagement?asOfDate={AS_OF}&rollingWindow=7",
            f"/pull/v1/apps/{app}/engagement?asOfDate={AS_OF}&rollingWindow=30&by=region",
            f"/pull/v1/apps/{app}/engagement?asOfDate={AS_OF}&rollingWindow=30&by=location&population=provisioned",
            f"/pull/v1/apps/{app}/inactive-users?asOfDate={AS_OF}&rollingWindow=7",
            f"/pull/v1/apps/{app}/inactive-users?asOfDate={AS_OF}&rollingWindow=30&population=employees",
            f"/pull/v1/apps/{app}/trend?from={FROM}&to={AS_OF}",
            f"/pull/v1/apps/{app}/rightsizing?asOfDate={AS_OF}&rollingWindow=30",
        ]
    paths += [
        f"/pull/v1/apps/{ids[0]}/engagement?asOfDate={AS_OF}&rollingWindow=7&group=Sent%20an%20Email",
        f"/pull/v1/apps/{ids[0]}/trend?from={FROM}&to={AS_OF}&group=Read%20an%20Email",
        f"/pull/v1/apps/{ids[1]}/trend?from={FROM}&to={AS_OF}&group=Edited",
        f"/reports/v2/workinghours/users?from={FROM}&to={AS_OF}",
        f"/reports/v2/workinghours/computers?from={FROM}&to={AS_OF}",
        f"/reports/v2/workinghours/users?from={FROM}&to={AS_OF}&page=2&pageSize=3",
        f"/reports/v2/workinghours/users?from={FROM}&to={AS_OF}&groupId={groups[0]['id']}",
        f"/reports/v2/workinghours/users?from={FROM}&to={AS_OF}&userId={clients[0]['id']}",
        f"/reports/v2/workinghours/computers?from={FROM}&to={AS_OF}&computerId={computers[-1]['id']}",
        f"/reports/v2/activitylog?startDate={FROM}&endDate={AS_OF}&pageSize=1000",
        f"/reports/v2/activitylog?startDate=2026-11-25&endDate=2026-11-26&pageSize=5",
        "/admin/v1/settings",
        "/admin/v1/classifications",
        "/admin/v1/groups",
        "/admin/v1/clients",
        "/admin/v1/computers",
        "/admin/v1/consumers",
        "/services/push/v1/customer/contracts",
        "/services/push/v1/customer/org-chart/snapshots",
    ]
    for app in ids:
        paths.append(f"/services/push/v1/customer/apps/{app}")
        paths.append(f"/services/push/v1/customer/apps/{app}/users")
    return paths


def record(api, out):
    import datetime

    today = datetime.datetime.now(datetime.timezone.utc).date()
    start = (today - datetime.timedelta(days=2)).isoformat() + "T00:00:00Z"
    end = (today + datetime.timedelta(days=2)).isoformat() + "T00:00:00Z"
    # The audit log of the fixture's making: the API refuses a start older than
    # 180 days, so the test compares this one only while the fixture is younger.
    paths = report_paths(api) + [
        f"/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}"]
    answers = []
    for path in paths:
        status, body = api.call("GET", path)
        again = api.call("GET", path)
        if (status, body) != again:
            sys.exit(f"GET {path} answers differently when asked twice:\n{body}\n{again[1]}")
        if status != 200:
            sys.exit(f"GET {path}: {status} {body}")
        answers.append({"path": path, "status": status, "body": body})
    with open(out, "w") as f:
        json.dump(answers, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"recorded {len(answers)} reports in {out}")


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("fill", "record"):
        sys.exit(__doc__)
    api = Api(sys.argv[2], sys.argv[3])
    if sys.argv[1] == "fill":
        fill(api)
    else:
        record(api, sys.argv[4])


if __name__ == "__main__":
    main()
