"""What `serve --demo` prints: where it listens, who to be, and a curl example that works."""

from __future__ import annotations

from typing import Any


def demo_banner(demo: dict[str, Any], demo_file: str) -> str:
    """A short, copy-pasteable guide to the running sandbox."""
    base = demo["base_url"]
    client = next(c for c in demo["clients"] if c["tenant"] == "demo")
    booked = demo["appointments"]["booked"]
    scenarios = "\n".join(f"    {name:<26} {aid}" for name, aid in demo["appointments"].items())
    services = "\n".join(f"    {name:<26} {sid}" for name, sid in demo["services"].items())
    active = demo["services"]["active"]
    ux_client = demo["ux_client"]
    ux = "\n".join(f"    {name:<26} {a['businessId']}/{a['id']}" for name, a in demo["ux"].items())
    install = demo["ux"]["installation"]
    return f"""
cancelgate is running at {base}   (OpenAPI: {base}/docs)
Demo data: {demo_file}

Demo client (tenant "demo"):
  client_id     {client["client_id"]}
  client_secret {client["client_secret"]}

Appointments by scenario (appointmentId):
{scenarios}

Services by scenario (serviceId):
{services}

UX API channel client:
  client_id     {ux_client["client_id"]}
  client_secret {ux_client["client_secret"]}
UX appointments by scenario (businessId/id):
{ux}

Try it:
  TOKEN=$(curl -s -u '{client["client_id"]}:{client["client_secret"]}' \\
    -d grant_type=client_credentials {demo["token_url"]} \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -i -X POST {base}/api/connect/orders/appointment-cancellations/request \\
    -H "Authorization: Bearer $TOKEN" -H 'X-API-VERSION: 8' \\
    -H 'Content-Type: application/json' -d '{{"appointmentId": {booked}}}'
  # then GET the Location it returns, with the same two headers:
  curl -i {base}/api/connect/orders/appointment-cancellations/requests/<id> \\
    -H "Authorization: Bearer $TOKEN" -H 'X-API-VERSION: 8'
  # or the same with the Python client (.venv/bin/cancelgate from a checkout's make run):
  cancelgate client --demo-file {demo_file} appointments cancel {booked} --wait
  # cancel a service on a date (service cancellations speak versions 1..7):
  curl -i -X POST {base}/api/connect/services/service-cancellations/request \\
    -H "Authorization: Bearer $TOKEN" -H 'X-API-VERSION: 7' \\
    -H 'Content-Type: application/json' \\
    -d '{{"serviceId": {active}, "cancellationDate": "<yyyy-mm-dd, today or later>"}}'
  # sandbox: submit it to the nbn now instead of at 00:00 (Australia/Sydney) on that date:
  curl -i -X POST {base}/api/connect/sandbox/service-cancellations/requests/{active}/submit \\
    -H "Authorization: Bearer $TOKEN" -H 'X-API-VERSION: 7'
  curl -i {base}/api/connect/services/service-cancellations/requests/{active} \\
    -H "Authorization: Bearer $TOKEN" -H 'X-API-VERSION: 7'
  # webhooks: subscribe a local receiver (http and loopback are allowed in the sandbox);
  # the answer shows the signing secret once (see the README to verify signatures)
  curl -i -X POST {base}/api/connect/webhooks/subscriptions \\
    -H "Authorization: Bearer $TOKEN" -H 'X-API-VERSION: 8' -H 'Content-Type: application/json' \\
    -d '{{"url": "http://127.0.0.1:9000/hook", "events": ["appointment.cancelled",
         "service.cancelled", "service.cancellation-rejected"]}}'
  # UX API (TMF646): cancel the installation appointment in CSG
  curl -i -X PATCH {base}/ecom-ux/v1/{install["businessId"]}/appointment/{install["id"]} \\
    -H 'client_id: {ux_client["client_id"]}' -H 'client_secret: {ux_client["client_secret"]}' \\
    -H 'X-Correlation-ID: 8417a2ba-19ae-4523-b63b-d99fcab9b5d5' \\
    -H 'Content-Type: application/json' -d '{{"status": "cancelled",
      "relatedEntity": [
        {{"@referredType": "CancellationReason", "id": "CR", "role": "cancellationReason"}},
        {{"id": "8211990010043396", "role": "Customer Account",
         "@referredType": "BillingAccount"}}],
      "validFor": {{"endDateTime": "2026-03-05T12:00:00.000-04:00"}},
      "characteristics": [{{"name": "orderClass", "value": "S"}}]}}'
"""
