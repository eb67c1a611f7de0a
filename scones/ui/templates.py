"""The dashboard's pages: plain HTML, server-side SVG, no CDN (it works offline); the only script is the
Review page's key handler, inline."""

LAYOUT = """<!doctype html>
<html><head><meta charset="utf-8"><title>scones - {{ title }}</title>
{% if refresh %}<meta http-equiv="refresh" content="{{ refresh }}">{% endif %}
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
 table { border-collapse: collapse; margin: .5rem 0 1rem; }
 td, th { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; vertical-align: top; }
 .status-Approved { color: #2e7d32; font-weight: bold; } .status-Rejected { color: #c62828; }
 .status-PendingManualApproval { color: #ef6c00; font-weight: bold; }
 .Succeeded { color: #2e7d32; } .Failed { color: #c62828; } .NotExecuted { color: #9e9e9e; }
 .Stopped { color: #ef6c00; }
 .Executing { color: #1565c0; font-weight: bold; }
 .marker { border-radius: .6rem; padding: .05rem .5rem; font-size: .85em; color: white; }
 .marker-live { background: #2e7d32; } .marker-deploying { background: #1565c0; }
 .marker-failed { background: #c62828; }
 .better { color: #2e7d32; } .worse { color: #c62828; }
 .drift { color: #c62828; font-weight: bold; } .ok { color: #2e7d32; }
 section { margin-bottom: 1.5rem; } pre { background: #f5f5f5; padding: .6rem; overflow-x: auto; }
 .flash { background: #fff3e0; padding: .5rem; border-left: 4px solid #ef6c00; }
 .side { display: flex; gap: 2rem; flex-wrap: wrap; } .thumbs figure { display: inline-block; margin: .3rem; }
 .thumbs img { width: 96px; height: 96px; image-rendering: pixelated; border: 2px solid #c62828; }
 figcaption { font-size: .8em; max-width: 110px; }
</style></head><body>
<h1><a href="{{ url_for('home.index') }}">scones</a> - {{ title }}
 <small><a id="nav-review" href="{{ url_for('review.queue') }}">review queue</a>
 <a id="nav-quality" href="{{ url_for('review.quality') }}">live accuracy</a></small></h1>
{% if message %}<p class="flash" id="flash">{{ message }}</p>{% endif %}
{{ body|safe }}
</body></html>"""

MARKER = """{% macro marker(text) %}{% if text %}<span class="marker marker-{{ text.split()[0] }}"
 data-marker="{{ text }}">{{ text }}</span>{% endif %}{% endmacro %}"""

INDEX = MARKER + """
<section id="endpoint"><h2>Endpoint</h2>
{% if endpoint and endpoint.live %}
 <p>Endpoint <b>{{ endpoint.endpoint }}</b> is <b id="endpoint-status">{{ endpoint.status }}</b>, serving
 <b id="live-version">v{{ endpoint.live.version }}</b> since {{ endpoint.live.since }}
 ({{ endpoint.requests }} requests answered: {{ endpoint.invocations }} with predictions,
 {{ endpoint.errors }} with errors).</p>
{% elif endpoint %}<p id="endpoint-status">Endpoint <b>{{ endpoint.endpoint }}</b> is running and serves no model yet
 (approve a version).</p>
{% else %}<p id="endpoint-status">No endpoint is running, so approving a version deploys nothing yet
 (start one: <code>scones endpoint serve</code>).</p>{% endif %}
{% if endpoint and endpoint.mode %}<p id="endpoint-mode">Mode: {{ endpoint.mode }}.</p>{% endif %}
{% if endpoint and endpoint.rollout and endpoint.rollout.state != "Completed" %}{% set r = endpoint.rollout %}
<p id="rollout" class="rollout-{{ r.state }}">
 Rollout v{{ r["from"] }} &rarr; v{{ r.to }} ({{ r.rollout }}): <b>{{ r.state }}</b>, step {{ r.step }} of
 {{ r.steps }}, v{{ r.to }} takes {{ "%.0f"|format(r.share * 100) }} % of traffic{% if r.reason %}: {{ r.reason
 }}{% endif %}.</p>{% endif %}
{% if split %}<table id="split"><tr><th>variant</th><th>version</th><th>share</th><th>answered</th><th>errors</th>
 <th>mean confidence</th><th>below threshold</th><th>live accuracy (reviewed)</th></tr>
{% for row in split.rows %}<tr class="variant" data-variant="{{ row.variant }}"><td>{{ row.variant }}</td>
 <td>v{{ row.version }}</td><td>{{ "%.0f"|format(row.share * 100) }} %</td><td>{{ row.invocations }}</td>
 <td>{{ row.errors }}</td><td>{{ "%.3f"|format(row.mean_confidence) if row.mean_confidence is not none else "-" }}</td>
 <td>{{ "%.1f"|format(row.below_threshold * 100) ~ " %" if row.below_threshold is not none else "-" }}</td>
 <td>{{ ("%.1f"|format(row.accuracy * 100) ~ " % of " ~ row.reviewed) if row.reviewed else "no answers yet" }}</td>
</tr>{% endfor %}</table>
<p id="split-verdict">Is the accuracy difference real? <b>{{ split.test.verdict }}</b></p>{% endif %}
{% if endpoint and endpoint.shadow %}<p id="shadow-line">Shadow: <a href="{{ url_for('versions.version',
 number=endpoint.shadow.version) }}">v{{ endpoint.shadow.version }}</a> answers {{
 "%.0f"|format(endpoint.shadow.share * 100) }} % of requests off the record ({{ endpoint.shadow.answered }} so far):
 see how it compares on its page.</p>{% endif %}
{% if deployment.deploying %}<p class="flash" id="deploying">Deploying <b>v{{ deployment.deploying }}</b>: the
 endpoint still serves {{ "v%d"|format(deployment.live) if deployment.live else "nothing" }}; this page refreshes
 until it confirms.</p>{% endif %}
{% if deployment.failed %}<p class="flash" id="deploy-failures">Approved but not deployed:
 {% for version, reason in deployment.failed.items() %}<b>v{{ version }}</b> ({{ reason }}){{ "; " if not loop.last }}
 {% endfor %}</p>{% endif %}
</section>
<section id="versions"><h2>Model versions ({{ group }})</h2>
{{ chart|safe }}
<table><tr><th>version</th><th>status</th><th>endpoint</th><th>accuracy</th><th>ECE</th><th>created</th>
 <th>pipeline run</th><th></th></tr>
{% for v in versions|reverse %}
 <tr id="version-{{ v.version }}"><td>
  <a href="{{ url_for('versions.version', number=v.version) }}">v{{ v.version }}</a></td>
  <td class="status-{{ v.status }}">{{ v.status }}</td><td>{{ marker(deployment.marker(v.version)) }}</td>
  <td>{{ "%.4f"|format(v.accuracy) if v.accuracy is not none else "-" }}</td>
  <td>{{ "%.4f"|format(v.metrics.calibration.expected_calibration_error)
        if v.metrics.calibration is defined else "-" }}</td>
  <td>{{ v.created[:19] }}</td><td>{{ v.pipeline_execution.rsplit('/', 1)[-1] }}</td>
  <td><a id="review-{{ v.version }}" href="{{ url_for('versions.version', number=v.version) }}">{{
      "review and decide" if v.status == PENDING else "details" }}</a></td></tr>
{% else %}<tr><td colspan="8">No versions yet: start a run below, or <code>scones pipeline run</code>.</td></tr>
{% endfor %}</table></section>
<section id="classify"><h2>Try an image</h2>
<form method="post" action="{{ url_for('traffic.classify') }}" enctype="multipart/form-data">{{ csrf_field }}
 <input type="file" name="image" id="upload" accept="image/*"> threshold
 <input name="threshold" value="{{ threshold }}" size="4"> <button id="classify-button">Classify</button></form>
{% if result %}<p id="classify-result">{{ result.image }}: <b id="result-label">{{ result.label or "-" }}</b>
 {% if result.confidence is not none %}({{ "%.3f"|format(result.confidence) }}){% endif %} -
 <b id="result-status">{{ result.status }}</b> {{ result.error }} {{ result.cause }}</p>{% endif %}
</section>
<section id="monitoring"><h2>Live traffic (last {{ capture_hours|round|int }} hours)</h2>
{% if capture.predictions %}<p>{{ capture.predictions }} predictions captured, {{ capture.below_threshold }} below
 the threshold {{ threshold }} ({{ "%.1f"|format(100 * capture.share_below_threshold) }} %),
 {{ capture.corrupt_lines }} corrupt capture lines.</p>
<div class="side"><img src="{{ url_for('traffic.monitor_png') }}" width="780" alt="confidence plot">
<table id="drift"><tr><th>version</th><th>predictions</th><th>below threshold</th><th>verdict</th><th>tests</th></tr>
{% for version, section in capture.by_version.items() %}<tr id="drift-v{{ version }}"><td>v{{ version }}</td>
 <td>{{ section.predictions }}</td><td>{{ "%.1f"|format(100 * section.share_below_threshold) }} %</td>
 <td class="{{ section.verdict|replace('/', '') }}" data-verdict="{{ section.verdict }}">{{
  section.verdict|upper }}</td>
 <td>{% for t in section.drift %}{{ t.name }} ({{ t.test }}): {{ "DRIFT" if t.drifted else "ok" if t.drifted is
  sameas false else "n/a" }}{% if t.p_value is not none %}, statistic {{ "%.3f"|format(t.statistic) }},
  p={{ "%.4f"|format(t.p_value) }}{% endif %}<br>{% endfor %}</td></tr>{% endfor %}
</table></div>
{% else %}<p>No captured traffic yet.</p>{% endif %}</section>
<section id="start"><h2>Start a run of {{ pipeline_name }}</h2>
{% if running %}<p id="run-in-progress">Execution <a href="{{ url_for('runs.run', execution=running.execution_id) }}">{{
 running.execution_id }}</a> is running (one run at a time per pipeline).</p>
{% else %}<form method="post" action="{{ url_for('runs.start_run') }}" id="start-form">{{ csrf_field }}
<table>{% for p in parameters %}<tr><td><label for="param-{{ p.Name }}">{{ p.Name }}</label></td>
 <td><input id="param-{{ p.Name }}" name="param.{{ p.Name }}" value="{{ p.DefaultValue }}" size="50"></td>
 <td>{{ p.Type }}</td></tr>{% endfor %}</table>
<button id="start-run">Start run</button></form>{% endif %}</section>
<section id="runs"><h2>Pipeline executions</h2>
<p>Show: {% for name in pipelines %}<a href="{{ url_for('home.index', pipeline=name) }}#runs">{{ name }}</a>
 {% endfor %}
 <a href="{{ url_for('home.index') }}#runs">all</a></p>
<table><tr><th>pipeline</th><th>execution</th><th>status</th><th>started</th><th>took</th><th>steps</th></tr>
{% for r in runs %}<tr class="run-row" data-pipeline="{{ r.pipeline }}"><td>{{ r.pipeline }}</td>
 <td>{% if r.link %}<a href="{{ r.link }}">{{ r.execution_id }}</a>
 {% else %}{{ r.execution_id }}{% endif %}</td>
 <td class="{{ r.status }}">{{ r.status }}</td><td>{{ r.started_text }}</td><td>{{ r.took }}</td>
 <td>{% if r.reason %}<b class="Failed">{{ r.reason }}</b><br>{% endif %}{{ r.summary }}</td></tr>
{% else %}<tr><td colspan="6">No runs yet.</td></tr>{% endfor %}</table></section>
"""

RUN = """
<p>Pipeline <b>{{ record.pipeline_name }}</b>, execution <b>{{ record.execution_id }}</b>:
 <b class="{{ record.status }}" id="run-status">{{ record.status }}</b>
 {% if record.status == "Executing" %}(this page refreshes until it ends)
 <form method="post" action="{{ url_for('runs.stop_run', execution=record.execution_id) }}" style="display:inline">
 {{ csrf_field }}<button id="stop-run">Stop</button></form>{% endif %}
 {% if record.attempts > 1 %}(attempt {{ record.attempts }}){% endif %}</p>
{% if record.selective %}<p id="selective">Selective execution: only <b>{{ record.selected_steps|join(", ") }}</b>
 ran{% if record.selective.SourcePipelineExecutionArn %}; the steps before them kept the outputs of execution
 <a href="{{ url_for('runs.run', execution=record.selective.SourcePipelineExecutionArn.rsplit('/', 1)[-1]) }}">{{
 record.selective.SourcePipelineExecutionArn.rsplit('/', 1)[-1] }}</a>{% endif %}.</p>{% endif %}
{% if record.failure_reason %}<p class="flash" id="failure-reason">{{ record.failure_reason }}</p>{% endif %}
{{ dag|safe }}
<table><tr><th>step</th><th>type</th><th>status</th><th>seconds</th><th>detail</th><th>artifacts</th></tr>
{% for s in steps %}<tr class="step-row" data-step="{{ s.name }}"><td>{{ s.name }}</td><td>{{ s.type }}</td>
 <td class="{{ s.status }}">{{ s.status }}</td><td>{{ "%.1f"|format(s.seconds) if s.seconds is not none }}</td>
 <td>{% if s.failure_reason %}<b class="Failed">{{ s.failure_reason }}</b><br>{% endif %}
  {{ s.cached_from and "cached from " + s.cached_from or s.summary }}</td>
 <td>{% for a in artifacts[s.name] %}
  <a class="artifact" href="{{ url_for('runs.artifact', execution=record.execution_id,
  step=s.name, index=loop.index0) }}">{{ a.what }}</a><br>{% endfor %}</td></tr>{% endfor %}
</table>
{% for s in steps if logs[s.name] %}<details class="log" data-step="{{ s.name }}" {{ "open" if s.status == "Failed" }}>
<summary>Log of {{ s.name }} ({{ s.status }})</summary><pre>{{ logs[s.name]|join("\\n") }}</pre></details>
{% endfor %}
{% if console %}<details open><summary>Console</summary><pre>{{ console|join("\\n") }}</pre></details>{% endif %}
<h3>Parameters</h3><pre>{{ parameters }}</pre>
"""

VERSION = MARKER + """
{% set c = comparison %}
<p>Version <b>v{{ v.version }}</b> of {{ v.group }}: <b class="status-{{ v.status }}" id="version-status">{{ v.status
 }}</b> {{ marker(deployment.marker(v.version)) }}
 {% if v.approval_description %}- "{{ v.approval_description }}"{% endif %}</p>
<p id="compared-with">{% if c.live %}Compared with <b>v{{ c.live.version }}</b>, {{ live_reason }}.
 {% else %}No other version is live or approved: nothing to compare with.{% endif %}</p>
{% if deployment.marker(v.version) == "deploying" %}<p class="flash" id="deploying">Deploying v{{ v.version }}: the
 endpoint still serves {{ "v%d"|format(deployment.live) if deployment.live else "nothing" }}; this page refreshes
 until it confirms.</p>{% endif %}
<section id="decide"><h2>Decision</h2>
{% for status, label in ((APPROVED, "Approve"), (REJECTED, "Reject")) if v.status != status %}
<form method="post" action="{{ url_for('versions.set_status', version=v.version, status=status) }}"
 style="display:inline">
 {{ csrf_field }}<input name="reason" id="reason-{{ label|lower }}" required minlength="3" size="40"
 placeholder="why (kept in the registry's history)">
 <button id="{{ label|lower }}">{{ label }} v{{ v.version }}</button>
</form>{% endfor %}</section>
<section id="shadow"><h2>On live traffic (shadow)</h2>
{% set a = shadow.agreement %}
{% if shadow.active %}<p id="shadow-active">v{{ v.version }} is shadowing {{ "%.0f"|format(shadow.status.share * 100)
 }} % of live requests: it answers a copy of each after the client has the live version's answer, and only capture
 sees it ({{ shadow.status.answered }} answered, {{ shadow.status.failed }} failed, {{ shadow.status.skipped }}
 skipped while busy).</p>
<form method="post" action="{{ url_for('versions.shadow', version=v.version) }}">{{ csrf_field }}
 <input type="hidden" name="action" value="stop"><button id="stop-shadow">Stop shadowing v{{ v.version }}</button>
</form>
{% elif shadow.can_start %}<form method="post" action="{{ url_for('versions.shadow', version=v.version) }}">
 {{ csrf_field }}<button id="start-shadow">Shadow v{{ v.version }} on live traffic</button>
 <small>clients keep getting the live version's answers; v{{ v.version }}'s are captured beside them</small></form>
{% elif shadow.serverless %}<p>A serverless endpoint cannot run a shadow variant (SageMaker's exclusion).</p>
{% else %}<p>Shadowing needs a running endpoint serving another version.</p>{% endif %}
{% if shadow.error %}<p class="flash" id="shadow-error">The endpoint refused the last request: {{ shadow.error }}</p>
{% endif %}
{% if a %}{% if a.compared %}
<p id="agreement">On <b>{{ a.compared }}</b> live requests, v{{ v.version }} gave the live version's label
 <b>{{ "%.1f"|format(a.agreement * 100) }} %</b> of the time (95 % interval {{ "%.1f"|format(a.agreement_ci[0] * 100)
 }}-{{ "%.1f"|format(a.agreement_ci[1] * 100) }} %); its confidence moved by {{ "%+.3f"|format(a.confidence_change)
 }} on average ({{ "%.3f"|format(a.mean_absolute_change) }} either way).{% if a.shadow_failed %}
 It failed on {{ a.shadow_failed }} requests.{% endif %}</p>
{% if a.graded.reviewed %}<p id="shadow-graded">Where a reviewer answered ({{ a.graded.reviewed }} requests):
 live version {{ "%.1f"|format(a.graded.live_accuracy * 100) }} % right, v{{ v.version }}
 {{ "%.1f"|format(a.graded.shadow_accuracy * 100) }} % right.</p>
{% else %}<p id="shadow-graded">No reviewer has answered any of these requests yet: agreement only.</p>{% endif %}
{% if a.disagreements %}<h3>Where they disagree ({{ a.disagreed }}; newest {{ a.disagreements|length }})</h3>
<div class="side" id="disagreements">{% for d in a.disagreements %}<figure class="disagreement">
 {% if shadow.images.get(d.event_id) %}<img src="{{ shadow.images[d.event_id] }}" width="64" height="64"
 alt="request {{ d.event_id }}">{% endif %}<figcaption>live: {{ d.live }} {{ "%.2f"|format(d.live_confidence) }}<br>
 v{{ v.version }}: {{ d.shadow }} {{ "%.2f"|format(d.shadow_confidence) }}</figcaption></figure>{% endfor %}</div>
{% endif %}
{% else %}<p id="agreement">No shadow answer joined to a live request yet (requests since the shadow started:
 {{ a.shadow_answers }}).</p>{% endif %}{% endif %}
</section>
<section id="metrics"><h2>Metrics</h2>
<table><tr><th></th><th>v{{ v.version }}</th>{% if c.live %}<th>v{{ c.live.version }} (live)</th><th>change</th>
 {% endif %}</tr>
{% for row in c.metrics %}<tr class="metric" data-metric="{{ row.name }}"><td>{{ row.name }}</td>
 <td>{{ row.text(row.candidate) }}</td>{% if c.live %}<td>{{ row.text(row.live) }}</td>
 <td class="{{ 'better' if row.better else 'worse' if row.better is sameas false }}">{{
  ("%+." ~ row.digits ~ "f")|format(row.delta) if row.delta is not none }}</td>{% endif %}</tr>{% endfor %}
</table>
{% for note in c.notes %}<p class="flash">{{ note }}</p>{% endfor %}
<h3>Per class</h3>
<table id="per-class"><tr><th>class</th><th>support</th><th>precision</th><th>recall</th><th>F1</th>
 {% if c.live %}<th>live precision</th><th>live recall</th><th>live F1</th>{% endif %}</tr>
{% for k in c.per_class %}<tr data-class="{{ k['class'] }}"><td>{{ k['class'] }}</td><td>{{ k.support }}</td>
 {% for side in ("candidate", "live") if side == "candidate" or c.live %}{% for m in ("precision", "recall", "f1") %}
 <td>{{ "%.3f"|format(k[side ~ "_" ~ m]) if k[side ~ "_" ~ m] is not none else "-" }}</td>{% endfor %}{% endfor %}
 </tr>{% endfor %}</table></section>
<section id="confusion"><h2>Confusion matrices (rows: true class, columns: predicted)</h2><div class="side">
{% for label, matrix in matrices %}<table class="confusion" data-version="{{ label }}"><caption>{{ label }}</caption>
<tr><th></th>{% for name in matrix %}<th>{{ name }}</th>{% endfor %}</tr>
{% for actual, row in matrix.items() %}<tr><th>{{ actual }}</th>{% for predicted, n in row.items() %}
 <td style="{{ 'font-weight:bold' if predicted == actual }}">{{ n }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endfor %}</div></section>
<section id="calibration"><h2>Calibration</h2><div class="side">{{ reliability|safe }}</div></section>
<section id="training"><h2>Training</h2><div class="side">{{ curves|safe }}</div>
{% for label, d in diagnostics %}<p>{{ label }}: {{ d.epochs }} epochs{% if d.overfitting %}, overfitting{% endif %}
 {% if d.loss_not_decreasing %}, loss not decreasing{% endif %}{% for w in d.warnings or [] %}; {{ w }}{% endfor %}
 </p>{% endfor %}</section>
<section id="data"><h2>Data it was trained on</h2>
{% for label, d in data %}{% if d %}<p data-version="{{ label }}">{{ label }}: dataset digest
 <code class="digest">{{ (d.dataset_digest or "?")[:16] }}</code>; {% for split, n in d.splits.items() %}{{ split }}
 {{ n.clean }} images{{ ", " if not loop.last }}{% endfor %}; {{ d.quarantined }} quarantined
 {% if d.reasons %}({% for r, n in d.reasons.items() %}{{ n }} {{ r }}{{ ", " if not loop.last }}{% endfor %})
 {% endif %}</p>
{% if d.quarantined_files %}<table class="quarantined"><tr><th>quarantined file</th><th>reason</th><th>detail</th></tr>
{% for f in d.quarantined_files %}<tr><td>{{ f.file }}</td><td>{{ f.reason }}</td><td>{{ f.detail }}</td></tr>
{% endfor %}</table>{% endif %}
{% else %}<p>{{ label }}: no record of its data (evaluated before reports carried it).</p>{% endif %}{% endfor %}
{% if c.same_data is not none %}<p id="same-data">{{ "Same training data as the live version (same digest)."
 if c.same_data else "Different training data from the live version." }}</p>{% endif %}</section>
<section id="mistakes"><h2>Misclassified test images (most confident first)</h2>
{% if mistakes %}<p>{{ mistakes.count }} of {{ v.metrics.evaluation.test_images }} test images misclassified.</p>
<div class="thumbs">{% for m in mistakes.sample %}<figure class="mistake"><img src="{{ m.thumbnail }}"
 alt="{{ m.file }}"><figcaption>{{ m.file }}: {{ m.true }} taken for <b>{{ m.predicted }}</b>
 ({{ "%.3f"|format(m.confidence) }})</figcaption></figure>{% else %}<p>None: every test image is right.</p>
{% endfor %}</div>{% else %}<p>Not recorded for this version.</p>{% endif %}</section>
<section id="history"><h2>Approval history</h2>
<table><tr><th>when (UTC)</th><th>status</th><th>reason</th></tr>
{% for h in history %}<tr class="history-row"><td>{{ h.at }}</td><td class="status-{{ h.status }}">{{ h.status }}</td>
 <td>{{ h.reason }}</td></tr>{% endfor %}</table></section>
"""


REVIEW = """
<section id="queue"><p id="counts">{{ counts.pending }} waiting, {{ counts.answered }} answered,
 {{ counts.disputed }} disputed. Keys: 1-9 a class, 0 none of these, ? can't tell, s skip.</p>
{% if item %}
<div class="side" id="item" data-id="{{ item.id }}">
 <div>{% if image_problem %}<p class="flash" id="image-problem">{{ image_problem }}</p>
  {% else %}<img id="review-image" src="{{ url_for('review.image', item_id=item.id) }}"
   style="width: 320px; height: 320px; object-fit: contain; image-rendering: pixelated; border: 1px solid #ccc;">
  {% endif %}</div>
 <div><p><b>{{ item.image }}</b><br>{{ item.kind }}: {{ item.reason }}<br>
  model {{ "v%d"|format(item.model_version) if item.model_version is not none else "(unknown version)" }}</p>
  <table><tr><th>model's top guesses</th><th>probability</th></tr>
  {% for label, p in item.top_guesses() %}<tr><td>{{ label }}</td><td>{{ "%.3f"|format(p) }}</td></tr>
  {% else %}<tr><td colspan="2">the model gave no answer</td></tr>{% endfor %}</table>
  {% for label, key in choices %}
  <form method="post" action="{{ url_for('review.answer', item_id=item.id) }}" style="display:inline">
   {{ csrf_field }}<input type="hidden" name="label" value="{{ label }}">
   <button class="answer" data-key="{{ key }}" id="answer-{{ loop.index }}">{% if key %}[{{ key }}] {% endif %}
    {{ label }}</button></form>{% endfor %}
  <a id="skip" data-key="s" href="{{ url_for('review.queue', after=item.id) }}">[s] skip</a>
 </div></div>
{% else %}<p id="empty">Nothing waits for review. Images the workflow cannot pass land here
 (<code>scones classify photos/</code>).</p>{% endif %}
</section>
<section id="retraining"><form method="post" action="{{ url_for('review.retrain') }}">{{ csrf_field }}
 <button id="retrain" {% if not trainable %}disabled{% endif %}>Retrain with {{ trainable }} reviewed images</button>
 </form><p><small>Stages the answered images (20 % of items are held back for live evaluation) into the
 next run's train split and runs the live version's pipeline again. From the shell:
 <code>scones review export</code>, then <code>scones pipeline run</code>.</small></p></section>
<section id="recent"><h2>Recently answered</h2><table>
<tr><th>item</th><th>image</th><th>model said</th><th>status</th><th>answer</th><th>last reviewer</th></tr>
{% for done in recent %}<tr><td>{{ done.id }}</td><td>{{ done.image }}</td><td>{{ done.label or "-" }}</td>
 <td>{{ done.status }}</td><td>{{ done.answer or "-" }}</td>
 <td>{{ done.answers[-1].reviewer }}</td></tr>{% endfor %}</table></section>
<script>
var sent = false;  // one answer per page: a key pressed while it is on its way must not answer again
document.addEventListener("keydown", function (event) {
  if (event.target.matches("input, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  var target = document.querySelector('[data-key="' + CSS.escape(event.key) + '"]');
  if (!target || !event.key) return;
  event.preventDefault();
  if (sent) return;
  sent = true;
  target.click();
});
</script>
"""


QUALITY = """
<p>Live accuracy from reviewers' answers, joined to the endpoint's data capture (the last {{ hours }} h) by
 InferenceId. Images below {{ "%.2f"|format(threshold) }} and the audit samples of confident ones are weighted
 by their share of traffic; with no audit samples the figures are the hard cases' alone (no alert).
 <code>scones monitor report</code> writes the same into report.json.</p>
{% for problem in problems[:5] %}<p class="flash">review output skipped: {{ problem }}</p>{% endfor %}
{% if not quality %}<p id="no-answers">No answers yet. Answer items on the
 <a href="{{ url_for('review.queue') }}">review queue</a> (or <code>scones review answer</code>).</p>{% else %}
<div class="side">{{ over_time_chart|safe }}{{ reliability|safe }}</div>
{% for version, q in quality.items() %}
<section class="version-quality" data-version="{{ version }}">
<h2>{{ "v" ~ version if version != "?" else "version unknown (the endpoint refused the image)" }}</h2>
{% if q.reviewed %}<p>Live accuracy <b class="live-accuracy">{{ "%.3f"|format(q.accuracy) }}</b>
 (95 % CI {{ "%.3f"|format(q.ci_low) }}-{{ "%.3f"|format(q.ci_high) }}) from {{ q.reviewed }} graded answers;
 {{ q.population }}.{% if q.evaluation_accuracy is not none %} Evaluation accuracy
 {{ "%.3f"|format(q.evaluation_accuracy) }}.{% endif %}
 {% if q.below_evaluation %}<b class="alert" id="alert-{{ version }}">BELOW ITS EVALUATION</b>{% endif %}</p>
{% set at = q.calibration.at_threshold %}{% if at and at.answers %}<p class="at-threshold">At or above
 {{ "%.2f"|format(at.threshold) }}: {{ "%.3f"|format(at.accuracy) }} right of {{ at.answers }} answers (95 % CI
 {{ "%.3f"|format(at.ci_low) }}-{{ "%.3f"|format(at.ci_high) }}, mean confidence
 {{ "%.3f"|format(at.mean_confidence) }}): {{ "the threshold holds" if at.holds else "the threshold NO LONGER HOLDS" }}.
</p>{% endif %}
<table class="over-time"><tr><th>day queued</th><th>answers</th><th>accuracy</th><th>95 % CI</th><th>on</th></tr>
{% for row in q.over_time %}<tr><td>{{ row.day }}</td><td>{{ row.reviewed }}</td>
 <td>{{ "%.3f"|format(row.accuracy) }}</td><td>{{ "%.3f"|format(row.ci_low) }}-{{ "%.3f"|format(row.ci_high) }}</td>
 <td>{{ row.population }}</td></tr>{% endfor %}</table>
<table class="confusion"><tr><th>reviewer said -> model said</th><th>answers</th></tr>
{% for pair, n in q.confusion|dictsort %}<tr><td>{{ pair }}</td><td>{{ n }}</td></tr>{% endfor %}</table>
{% endif %}<p><small>{{ q.ungraded }} answers grade nothing (none of these, can't tell, disputed, or no model
 answer); {{ q.without_capture }} graded answers have no capture record (graded on the answer the item
 carries).</small></p></section>
{% endfor %}{% endif %}
"""
