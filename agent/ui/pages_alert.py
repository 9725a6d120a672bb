"""The Alert page: the incident's timeline, the evidence in plain words, the metric chart, the
audit event with matched fields and linked tags, the prompt excerpt, the actions (approve /
reject / undo), ack / assign / resolve with a note and "silence alerts like this"."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from core.event import Alert
from core.http import HttpError, Request, Response
from core.stores.search import AlertSearch
from agent.ui import operations, render
from agent.ui.app import PREFIX, UiContext, action, page
from agent.ui.auth import Form, Session
from agent.ui.chart import ChartData, svg_geometry
from agent.ui.evidence import audit_fields, plain_words, prompt_view, tag_link


@dataclass
class Moment:
    time: float
    what: str
    detail: str = ""


def timeline(a: Alert, chart: ChartData | None, actions, related: list[Alert]) -> list[Moment]:
    out = [Moment(a.first_seen, "first finding", f"{a.detector}: {a.title}")]
    if chart is not None:
        crossed = [(t, v) for t, v, c in zip(chart.t, chart.v, chart.crossed) if c]
        out += [Moment(t, "threshold crossed", f"{chart.metric} = {render.fmt_num(v)}") for t, v in crossed[:3]]
        if len(crossed) > 3:
            out.append(Moment(crossed[-1][0], "threshold crossed", f"{chart.metric} = {render.fmt_num(crossed[-1][1])} "
                              f"({len(crossed) - 3} more crossings since {render.fmt_time(crossed[2][0])})"))
    if a.last_seen > a.first_seen:
        out.append(Moment(a.last_seen, "last finding", f"{a.count} finding(s) folded into this alert"))
    out += [Moment(x.time, f"action {x.status}", f"{x.responder} {x.action} {x.target}"
                   + (" (dry-run)" if x.dry_run else "")) for x in actions]
    out += [Moment(r.first_seen, "same incident", f"{r.title} [{r.status}]") for r in related if r.id != a.id]
    return sorted(out, key=lambda m: m.time)


def blocked_key(actions) -> str:
    """What the block list blocks (or would, in dry-run) for this alert: `client:web-frontend`."""
    return next((x.target for x in actions if x.responder.split("/")[0] == "blocklist"), "")


def silence_matchers(a: Alert) -> list[str]:
    """Matchers of "silence alerts like this": the policy and the entity."""
    return [f"alertname={a.labels.get('alertname', a.rule)}", f"entity={a.entity}"]


def routes(ui: UiContext):
    def alert_of(req: Request) -> Alert:
        a = ui.store.get_alert(req.path_params["id"])
        if a is None:
            raise HttpError(404, "no such alert")
        return a

    def show(req: Request, s: Session) -> Response:
        a = alert_of(req)
        actions = ui.store.list_actions(a.id)
        related = ui.store.search_alerts(AlertSearch(entity=a.entity, limit=20)).alerts
        related = [r for r in related if r.group_key == a.group_key]
        chart = ChartData.of_alert(a)
        geo = svg_geometry(chart) if chart else None
        ev = a.evidence or {}
        return ui.page("alert.html", s, a=a, actions=actions, chart=chart, geo=geo,
                       timeline=timeline(a, chart, actions, related), words=plain_words(a, ui.options.redaction),
                       fields=audit_fields(ev) if isinstance(ev.get("event"), dict) else [],
                       rule=ev.get("rule") if isinstance(ev.get("rule"), dict) else None,
                       tags=[tag_link(t) for t in a.tags],
                       prompt=prompt_view(ev, ui.options.redaction, blocked_key(actions)),
                       matchers=silence_matchers(a), other=sorted((k, v) for k, v in ev.items()
                                                                   if k not in ("chart", "event", "matched", "rule")),
                       prefix=PREFIX)

    def change(status: str | None):
        def post(req: Request, s: Session, form: Form) -> Response:
            a = alert_of(req)
            by = form.get("by") or s.principal
            fields = {"note": form.get("note")}
            if status:
                fields["status"] = status
            if form.get("assignee"):
                fields["assignee"] = form.get("assignee")
            if not status and "assignee" not in fields:
                raise HttpError(400, "assign needs an assignee")
            operations.workflow(ui.store, a.id, by, **fields)
            return render.redirect(f"{PREFIX}/alerts/{quote(a.id)}")
        return post

    def silence(req: Request, s: Session, form: Form) -> Response:
        a = alert_of(req)
        matchers = [m.strip() for m in form.get("matchers").splitlines() if m.strip()]
        operations.add_silence(ui.cfg, matchers, form.get("duration") or "2h", form.get("comment"),
                               form.get("by") or s.principal)
        return render.redirect(f"{PREFIX}/silences?created_for={quote(a.id)}")

    base = f"{PREFIX}/alerts/{{id}}"
    return {("GET", base): page(ui, show),
            ("POST", f"{base}/ack"): action(ui, change("acknowledged")),
            ("POST", f"{base}/resolve"): action(ui, change("resolved")),
            ("POST", f"{base}/assign"): action(ui, change(None)),
            ("POST", f"{base}/silence"): action(ui, silence)}
