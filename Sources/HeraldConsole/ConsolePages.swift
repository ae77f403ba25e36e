import Mustache

/// The console's templates and style sheet, compiled into the binary: nothing is read from
/// disk or fetched from another host. Every value goes through Mustache's `{{ }}`, which
/// escapes HTML, so an email's subject or an error code renders as text.
enum ConsolePages {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, text) in templates { try library.register(text, named: name) }
        return library
    }

    private static let templates: [String: String] = [
        "layout": layout, "sign-in": signIn, "overview": overview, "emails": emails, "email": email, "providers": providers,
        "problem": problem, "bulk": bulk, "suppressions": suppressions, "keys": keys,
        "webhooks": webhooks, "webhook": webhook,
    ]

    private static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{$title}}Herald{{/title}} · Herald console</title>
        <link rel="stylesheet" href="/console/console.css">
        <script src="/console/console.js" defer></script>
        </head>
        <body{{$refresh}}{{/refresh}}>
        <header>
        <a class="brand" href="/console">Herald</a>
        {{#signedIn}}
        <nav aria-label="Console">
        <a href="/console">Overview</a>
        <a href="/console/emails">Emails</a>
        {{#canBulk}}<a href="/console/bulk">Bulk</a>{{/canBulk}}
        <a href="/console/suppressions">Suppressions</a>
        <a href="/console/webhooks">Webhooks</a>
        <a href="/console/providers">Providers</a>
        {{#canManageKeys}}<a href="/console/keys">Keys</a>{{/canManageKeys}}
        </nav>
        <form method="post" action="/console/sign-out" class="sign-out">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <span class="who">{{tenant}} · {{scope}}</span>
        <button type="submit">Sign out</button>
        </form>
        {{/signedIn}}
        </header>
        <main id="main">
        {{$content}}{{/content}}
        </main>
        </body>
        </html>
        """

    private static let signIn = """
        {{<layout}}
        {{$title}}Sign in{{/title}}
        {{$content}}
        <h1>Sign in</h1>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form method="post" action="/console/sign-in" class="sign-in">
        <label for="key">API key</label>
        <input id="key" name="key" type="password" autocomplete="current-password" required>
        <button type="submit">Sign in</button>
        </form>
        <p>A read key reads; a send key also retries and cancels its tenant's emails.</p>
        {{/content}}
        {{/layout}}
        """

    private static let overview = """
        {{<layout}}
        {{$title}}Overview{{/title}}
        {{$refresh}} data-refresh="5"{{/refresh}}
        {{$content}}
        <h1>Overview</h1>
        {{#queue}}
        <section aria-labelledby="queue">
        <h2 id="queue">Queue</h2>
        <ul class="figures">
        {{#statuses}}<li><span class="label">{{name}}</span> <a href="/console/emails?status={{name}}">{{count}}</a></li>{{/statuses}}
        <li><span class="label">oldest due</span> <strong>{{oldestDue}}</strong></li>
        </ul>
        </section>
        {{#activity}}
        <section aria-labelledby="activity">
        <h2 id="activity">Last hour</h2>
        <figure class="chart">
        <svg viewBox="0 0 {{width}} {{height}}" role="img" aria-labelledby="activity-summary" preserveAspectRatio="none">
        <line class="axis" x1="0" y1="{{height}}" x2="{{width}}" y2="{{height}}"></line>
        {{#lines}}<polyline class="series series-{{kind}}" fill="none" points="{{points}}"></polyline>{{/lines}}
        </svg>
        <figcaption>
        <span class="scale">top {{top}} a minute · 60 minutes ago to now</span>
        <ul class="legend">{{#lines}}<li class="legend-{{kind}}">{{kind}} <strong>{{total}}</strong></li>{{/lines}}</ul>
        <p id="activity-summary" class="visually-hidden">{{summary}}</p>
        </figcaption>
        </figure>
        </section>
        {{/activity}}
        {{/queue}}
        <section aria-labelledby="providers">
        <h2 id="providers">Providers</h2>
        <table>
        <thead><tr><th scope="col">Provider</th><th scope="col">State</th><th scope="col">Breaker</th><th scope="col">p95</th><th scope="col">Success</th><th scope="col">Reason</th></tr></thead>
        <tbody>
        {{#providers}}<tr><th scope="row">{{name}}</th><td class="state-{{state}}">{{state}}</td><td>{{breaker}}</td><td>{{p95}}</td><td>{{success}}</td><td>{{reason}}</td></tr>{{/providers}}
        </tbody>
        </table>
        </section>
        <section aria-labelledby="changes">
        <h2 id="changes">Recent state changes</h2>
        <table>
        <thead><tr><th scope="col">When</th><th scope="col">Provider</th><th scope="col">State</th><th scope="col">Why</th></tr></thead>
        <tbody>
        {{#changes}}<tr><td>{{at}}</td><th scope="row">{{provider}}</th><td class="state-{{state}}">{{state}}</td><td>{{reason}}</td></tr>{{/changes}}
        {{^changes}}<tr><td colspan="4">No changes since this node started.</td></tr>{{/changes}}
        </tbody>
        </table>
        </section>
        {{/content}}
        {{/layout}}
        """

    private static let emails = """
        {{<layout}}
        {{$title}}Emails{{/title}}
        {{$content}}
        <h1>Emails</h1>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form method="get" action="/console/emails" class="filters">
        <label for="status">Status</label>
        <select id="status" name="status">
        {{#statusOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statusOptions}}
        </select>
        <label for="recipient">Recipient</label>
        <input id="recipient" name="recipient" value="{{recipient}}">
        <label for="tag">Tag</label>
        <input id="tag" name="tag" value="{{tag}}">
        <label for="provider">Provider</label>
        <input id="provider" name="provider" value="{{provider}}">
        <label for="since">Created from (UTC)</label>
        <input id="since" name="since" type="datetime-local" value="{{since}}">
        <label for="until">Created before (UTC)</label>
        <input id="until" name="until" type="datetime-local" value="{{until}}">
        <label for="id">Email id</label>
        <input id="id" name="id" value="{{id}}">
        <button type="submit">Show</button>
        </form>
        <table>
        <thead><tr><th scope="col">Email</th><th scope="col">Status</th><th scope="col">Provider</th><th scope="col">Created</th><th scope="col">Updated</th></tr></thead>
        <tbody>
        {{#emails}}<tr><th scope="row"><a href="/console/emails/{{id}}">{{id}}</a></th><td class="status-{{status}}">{{status}}</td><td>{{provider}}</td><td>{{created}}</td><td>{{updated}}</td></tr>{{/emails}}
        {{^emails}}<tr><td colspan="5">No emails.</td></tr>{{/emails}}
        </tbody>
        </table>
        {{#next}}<p><a rel="next" href="{{next}}">Older emails</a></p>{{/next}}
        {{/content}}
        {{/layout}}
        """

    private static let email = """
        {{<layout}}
        {{$title}}Email {{id}}{{/title}}
        {{$content}}
        <h1>Email <code>{{id}}</code></h1>
        <dl class="details">
        <dt>Status</dt><dd id="status" class="status-{{status}}">{{status}}</dd>
        {{#failure}}<dt>Why</dt><dd>{{failure}}</dd>{{/failure}}
        <dt>From</dt><dd>{{from}}</dd>
        <dt>To</dt><dd>{{to}}</dd>
        <dt>Subject</dt><dd id="subject">{{subject}}</dd>
        {{#tags}}<dt>Tags</dt><dd>{{tags}}</dd>{{/tags}}
        {{#provider}}<dt>Provider</dt><dd>{{provider}} {{providerMessageID}}</dd>{{/provider}}
        </dl>
        {{#canRetry}}
        <form method="post" action="/console/emails/{{id}}/retry">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit">Retry</button>
        </form>
        {{/canRetry}}
        {{#canCancel}}
        <form method="post" action="/console/emails/{{id}}/cancel">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit">Cancel</button>
        </form>
        {{/canCancel}}
        {{#canDownload}}<p><a href="/console/emails/{{id}}/raw" download>Download the message (MIME)</a></p>{{/canDownload}}
        {{#text}}
        <h2>Text</h2>
        <pre class="body">{{text}}</pre>
        {{/text}}
        {{#hasHTML}}
        <h2>HTML</h2>
        <iframe class="body" sandbox src="/console/emails/{{id}}/body" title="The email's HTML body"></iframe>
        {{/hasHTML}}
        {{#hasRecipients}}
        <h2>Recipients</h2>
        <table>
        <thead><tr><th scope="col">Recipient</th><th scope="col">State</th><th scope="col">Since</th></tr></thead>
        <tbody>{{#recipients}}<tr><th scope="row">{{address}}</th><td>{{state}}</td><td>{{at}}</td></tr>{{/recipients}}</tbody>
        </table>
        {{/hasRecipients}}
        <h2 id="attempts-heading">Attempts</h2>
        <table id="attempts" aria-labelledby="attempts-heading">
        <thead><tr><th scope="col">#</th><th scope="col">Provider</th><th scope="col">Started</th><th scope="col">Outcome</th><th scope="col">Error</th><th scope="col">Latency</th><th scope="col">Why this provider</th></tr></thead>
        <tbody>
        {{#attempts}}<tr><td>{{number}}</td><td>{{provider}}</td><td>{{started}}</td><td>{{outcome}}</td><td>{{error}}</td><td>{{latency}}</td><td>{{routing}}</td></tr>{{/attempts}}
        {{^attempts}}<tr><td colspan="7">No attempt yet.</td></tr>{{/attempts}}
        </tbody>
        </table>
        <h2>History</h2>
        <ol class="timeline">
        {{#events}}<li><time>{{at}}</time> <strong>{{kind}}</strong> {{provider}} {{detail}}</li>{{/events}}
        </ol>
        {{/content}}
        {{/layout}}
        """

    private static let bulk = """
        {{<layout}}
        {{$title}}Bulk retry and cancel{{/title}}
        {{$content}}
        <h1>Bulk retry and cancel</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form method="get" action="/console/bulk" class="filters">
        <label for="status">Status</label>
        <select id="status" name="status">
        {{#statusOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/statusOptions}}
        </select>
        <label for="tag">Tag</label>
        <input id="tag" name="tag" value="{{tag}}">
        <label for="provider">Provider</label>
        <input id="provider" name="provider" value="{{provider}}">
        <button type="submit">Count</button>
        </form>
        {{#counted}}
        <p id="matching">{{retryable}} to retry, {{cancellable}} to cancel.</p>
        {{#canRetry}}
        <form method="post" action="/console/bulk/retry" data-confirm="Retry {{retryable}} emails?">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="status" value="{{status}}"><input type="hidden" name="tag" value="{{tag}}"><input type="hidden" name="provider" value="{{provider}}">
        <input type="hidden" name="counted" value="{{retryable}}">
        <button type="submit">Retry {{retryable}}</button>
        </form>
        {{/canRetry}}
        {{#canCancel}}
        <form method="post" action="/console/bulk/cancel" data-confirm="Cancel {{cancellable}} emails?">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="status" value="{{status}}"><input type="hidden" name="tag" value="{{tag}}"><input type="hidden" name="provider" value="{{provider}}">
        <input type="hidden" name="counted" value="{{cancellable}}">
        <button type="submit">Cancel {{cancellable}}</button>
        </form>
        {{/canCancel}}
        {{/counted}}
        {{/content}}
        {{/layout}}
        """

    private static let suppressions = """
        {{<layout}}
        {{$title}}Suppressions{{/title}}
        {{$content}}
        <h1>Suppressions</h1>
        <p>Emails are not sent to these addresses: a provider refused them for good, or someone added them.</p>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#errors}}<p class="error" role="alert">{{.}}</p>{{/errors}}
        {{#canChange}}
        <form method="post" action="/console/suppressions" class="filters">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="address">Address</label>
        <input id="address" name="address" type="email" value="{{address}}" required>
        <label for="reason">Reason</label>
        <input id="reason" name="reason" value="{{reason}}" maxlength="500">
        <button type="submit">Add</button>
        </form>
        {{/canChange}}
        <table>
        <thead><tr><th scope="col">Address</th><th scope="col">Reason</th><th scope="col">Source</th><th scope="col">Email</th><th scope="col">Added</th>{{#canChange}}<th scope="col">Action</th>{{/canChange}}</tr></thead>
        <tbody>
        {{#entries}}<tr><th scope="row">{{address}}</th><td>{{reason}}</td><td>{{source}}</td><td>{{#email}}<a href="/console/emails/{{email}}">{{email}}</a>{{/email}}</td><td>{{added}}</td>{{#canChange}}<td><form method="post" action="/console/suppressions/remove"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="address" value="{{address}}"><button type="submit" aria-label="Remove {{address}}">Remove</button></form></td>{{/canChange}}</tr>{{/entries}}
        {{^entries}}<tr><td colspan="6">No address is suppressed.</td></tr>{{/entries}}
        </tbody>
        </table>
        {{#next}}<p><a rel="next" href="{{next}}">More</a></p>{{/next}}
        {{/content}}
        {{/layout}}
        """

    private static let webhooks = """
        {{<layout}}
        {{$title}}Webhooks{{/title}}
        {{$content}}
        <h1>Webhooks</h1>
        <p>Endpoints are registered with <code>POST /v1/webhooks</code>, which shows each one's secret once.</p>
        <table>
        <thead><tr><th scope="col">Endpoint</th><th scope="col">URL</th><th scope="col">Events</th><th scope="col">State</th></tr></thead>
        <tbody>
        {{#endpoints}}<tr><th scope="row"><a href="/console/webhooks/{{id}}">{{id}}</a></th><td>{{url}}</td><td>{{events}}</td><td class="state-{{state}}">{{state}}{{#reason}}: {{reason}}{{/reason}}</td></tr>{{/endpoints}}
        {{^endpoints}}<tr><td colspan="4">No endpoint yet.</td></tr>{{/endpoints}}
        </tbody>
        </table>
        {{/content}}
        {{/layout}}
        """

    private static let webhook = """
        {{<layout}}
        {{$title}}Webhook endpoint {{id}}{{/title}}
        {{$content}}
        <h1>Webhook endpoint <code>{{id}}</code></h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        <dl class="details">
        <dt>URL</dt><dd>{{url}}</dd>
        <dt>Events</dt><dd>{{events}}</dd>
        <dt>State</dt><dd id="state" class="state-{{state}}">{{state}}</dd>
        {{#reason}}<dt>Why</dt><dd>{{reason}}</dd>{{/reason}}
        </dl>
        {{#canChange}}
        {{#enabled}}<form method="post" action="/console/webhooks/{{id}}/disable"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Disable</button></form>{{/enabled}}
        {{^enabled}}<form method="post" action="/console/webhooks/{{id}}/enable"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Enable</button></form>{{/enabled}}
        {{/canChange}}
        <h2>Deliveries</h2>
        <table>
        <thead><tr><th scope="col">Message</th><th scope="col">Try</th><th scope="col">At</th><th scope="col">Status</th><th scope="col">Latency</th><th scope="col">Next</th><th scope="col">Answer</th>{{#canChange}}<th scope="col">Action</th>{{/canChange}}</tr></thead>
        <tbody>
        {{#attempts}}<tr><th scope="row"><code>{{message}}</code></th><td>{{number}}</td><td>{{at}}</td><td>{{status}}</td><td>{{latency}}</td><td>{{next}}</td><td>{{answer}}</td>{{#canChange}}<td><form method="post" action="/console/webhooks/{{id}}/replay"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="message" value="{{message}}"><button type="submit" aria-label="Send {{message}} again">Send again</button></form></td>{{/canChange}}</tr>{{/attempts}}
        {{^attempts}}<tr><td colspan="8">No delivery yet.</td></tr>{{/attempts}}
        </tbody>
        </table>
        {{#older}}<p><a rel="next" href="{{older}}">Older deliveries</a></p>{{/older}}
        {{/content}}
        {{/layout}}
        """

    private static let keys = """
        {{<layout}}
        {{$title}}Keys{{/title}}
        {{$content}}
        <h1>Keys</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#errors}}<p class="error" role="alert">{{.}}</p>{{/errors}}
        {{#created}}
        <section class="created" aria-labelledby="created">
        <h2 id="created">Key {{id}} made</h2>
        <p>For tenant {{tenant}}, scope {{scope}}. Copy it now: it is shown only this once.</p>
        <p><label for="secret">Key</label> <input id="secret" readonly value="{{secret}}" size="60"></p>
        </section>
        {{/created}}
        <form method="post" action="/console/keys" class="filters">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="tenant">Tenant</label>
        <input id="tenant" name="tenant" required pattern="{{tenantPattern}}" value="default">
        <label for="scope">Scope</label>
        <select id="scope" name="scope">
        {{#scopes}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/scopes}}
        </select>
        <button type="submit">Make a key</button>
        </form>
        <table>
        <thead><tr><th scope="col">Key</th><th scope="col">Tenant</th><th scope="col">Scope</th><th scope="col">Created</th><th scope="col">Revoked</th><th scope="col">Action</th></tr></thead>
        <tbody>
        {{#keys}}<tr><th scope="row"><code>{{id}}</code>{{#own}} (this session){{/own}}</th><td>{{tenant}}</td><td>{{scope}}</td><td>{{created}}</td><td>{{revoked}}</td><td>{{#active}}<form method="post" action="/console/keys/{{id}}/revoke" data-confirm="Revoke key {{id}}? Its sessions end too."><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" aria-label="Revoke {{id}}">Revoke</button></form>{{/active}}</td></tr>{{/keys}}
        </tbody>
        </table>
        {{/content}}
        {{/layout}}
        """

    private static let providers = """
        {{<layout}}
        {{$title}}Providers{{/title}}
        {{$content}}
        <h1>Providers</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <table>
        <thead><tr><th scope="col">Provider</th><th scope="col">Kind</th><th scope="col">Priority</th><th scope="col">State</th><th scope="col">Breaker</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">Latency</th><th scope="col">Calls</th><th scope="col">Success</th><th scope="col">Failures</th><th scope="col">Sent last minute</th><th scope="col">Quotas</th><th scope="col">Reason</th>{{#canPause}}<th scope="col">Action</th>{{/canPause}}</tr></thead>
        <tbody>
        {{#providers}}<tr><th scope="row">{{name}}</th><td>{{kind}}</td><td>{{priority}}</td><td class="state-{{state}}">{{state}}</td><td>{{breaker}}</td><td>{{p50}}</td><td>{{p95}}</td><td>{{#chart}}<svg class="latency" viewBox="0 0 {{width}} {{height}}" role="img" aria-label="{{summary}}" preserveAspectRatio="none"><path class="p95" d="{{p95}}"></path><path class="p50" d="{{p50}}"></path></svg>{{/chart}}</td><td>{{calls}}</td><td>{{success}}</td><td>{{failures}}</td><td>{{sentLastMinute}}</td><td>{{quotas}}</td><td>{{reason}}</td>{{#canPause}}<td><form method="post" action="/console/providers/{{name}}/{{action}}"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" aria-label="{{action}} {{name}}">{{action}}</button></form></td>{{/canPause}}</tr>{{/providers}}
        </tbody>
        </table>
        <p class="scale">Latency: <span class="key-p50">p50</span> and <span class="key-p95">p95</span> per slot of the breaker's window, oldest on the left.</p>
        {{#sandboxes}}
        <section aria-labelledby="sandbox-{{name}}">
        <h2 id="sandbox-{{name}}">Sandbox {{name}}</h2>
        {{#canChange}}
        <form method="post" action="/console/providers/{{name}}/sandbox" class="filters">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="{{name}}-latency">Latency (ms)</label>
        <input id="{{name}}-latency" name="latency_ms" type="number" min="0" max="600000" value="{{latency}}">
        <label for="{{name}}-jitter">Jitter (ms)</label>
        <input id="{{name}}-jitter" name="latency_jitter_ms" type="number" min="0" max="600000" value="{{jitter}}">
        <label for="{{name}}-failure-rate">Failure rate (0 to 1)</label>
        <input id="{{name}}-failure-rate" name="failure_rate" type="number" min="0" max="1" step="any" value="{{failureRate}}">
        <label for="{{name}}-failure-class">Failure class</label>
        <select id="{{name}}-failure-class" name="failure_class">
        {{#classes}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/classes}}
        </select>
        <label for="{{name}}-retry-after">Retry-After (s)</label>
        <input id="{{name}}-retry-after" name="retry_after_seconds" type="number" min="0" max="86400" value="{{retryAfter}}">
        <button type="submit">Apply</button>
        </form>
        {{/canChange}}
        {{^canChange}}
        <p>Latency {{latency}} ms, jitter {{jitter}} ms, failure rate {{failureRate}}, failing as {{#classes}}{{#selected}}{{value}}{{/selected}}{{/classes}}.</p>
        {{/canChange}}
        </section>
        {{/sandboxes}}
        {{/content}}
        {{/layout}}
        """

    private static let problem = """
        {{<layout}}
        {{$title}}{{heading}}{{/title}}
        {{$content}}
        <h1>{{heading}}</h1>
        <p role="alert">{{message}}</p>
        <p><a href="/console">Back to the overview</a></p>
        {{/content}}
        {{/layout}}
        """

    /// Keeps a page marked `data-refresh="SECONDS"` current: every so often, while the page is
    /// visible, its `<main>` is fetched again and swapped in, so that nothing else (focus, the
    /// scroll position) moves. Asks before a form marked `data-confirm="QUESTION"` is sent.
    static let script = """
        "use strict";
        document.addEventListener("submit", (event) => {
          const question = event.target.dataset.confirm;
          if (question && !confirm(question)) event.preventDefault();
        });
        const seconds = Number(document.body.dataset.refresh);
        if (seconds > 0) {
          setInterval(async () => {
            if (document.hidden) return;
            const answer = await fetch(location.href, { credentials: "same-origin" });
            if (!answer.ok || answer.redirected) return;
            const page = new DOMParser().parseFromString(await answer.text(), "text/html");
            const fresh = page.querySelector("main");
            if (fresh) document.querySelector("main").replaceChildren(...fresh.childNodes);
          }, seconds * 1000);
        }
        """

    static let styleSheet = """
        :root { color-scheme: light; --accent: #1d4ed8; --muted: #6b7280; --bad: #b91c1c; --good: #15803d; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; }
        header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid #8884; }
        header nav { display: flex; flex-wrap: wrap; gap: .4rem 1rem; flex: 1; }
        .brand { font-weight: 700; text-decoration: none; }
        a { color: var(--accent); }
        a:focus, button:focus, input:focus, select:focus { outline: 3px solid var(--accent); outline-offset: 2px; }
        main { padding: 1rem; max-width: 72rem; }
        h1 { overflow-wrap: anywhere; }
        @media (max-width: 40rem) { header nav { flex-basis: 100%; order: 3; } }
        table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; display: block; overflow-x: auto; }
        th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #8884; white-space: nowrap; }
        ul.figures { display: flex; flex-wrap: wrap; gap: 1rem; list-style: none; padding: 0; }
        ul.figures li { min-width: 8rem; }
        .label, dt { color: var(--muted); }
        dl.details { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .3rem 1rem; }
        dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
        form { margin: .5rem 0; display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
        .sign-in { flex-direction: column; align-items: flex-start; max-width: 24rem; }
        .sign-in input { width: 100%; }
        input, select, button { font: inherit; padding: .3rem .5rem; }
        button { cursor: pointer; }
        .error, .status-failed, .state-open, .state-paused { color: var(--bad); }
        .status-sent, .state-healthy { color: var(--good); }
        .who { color: var(--muted); }
        .notice { font-weight: 600; }
        figure.chart { margin: 0 0 1rem; max-width: 40rem; }
        figure.chart svg { width: 100%; height: 10rem; border-left: 1px solid #8884; }
        .axis { stroke: #8888; }
        .series { stroke-width: 2; vector-effect: non-scaling-stroke; }
        svg.latency { width: 7.5rem; height: 2rem; vertical-align: middle; }
        svg.latency path { fill: none; stroke-width: 2; stroke-linecap: round; vector-effect: non-scaling-stroke; }
        .p50, .key-p50 { stroke: #1d4ed8; color: #1d4ed8; }
        .p95, .key-p95 { stroke: #a16207; color: #8a5206; }
        .series-accepted, .legend-accepted::before { stroke: #1d4ed8; background: #1d4ed8; }
        .series-sent, .legend-sent::before { stroke: #15803d; background: #15803d; }
        .series-failed, .legend-failed::before { stroke: #b91c1c; background: #b91c1c; }
        .series-bounced, .legend-bounced::before { stroke: #a16207; background: #a16207; }
        ul.legend { display: flex; flex-wrap: wrap; gap: .3rem 1rem; list-style: none; padding: 0; margin: .3rem 0; }
        ul.legend li::before { content: ""; display: inline-block; width: .8rem; height: .25rem; margin-right: .3rem; vertical-align: middle; }
        .scale { color: var(--muted); font-size: .85rem; }
        .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
        pre.body { white-space: pre-wrap; overflow-wrap: anywhere; max-height: 20rem; overflow: auto; padding: .5rem; border: 1px solid #8884; }
        iframe.body { width: 100%; height: 24rem; border: 1px solid #8884; }
        ol.timeline { padding-left: 1.2rem; }
        """
}
