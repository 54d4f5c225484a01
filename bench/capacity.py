"""The capacity and cost model of docs/operations.md, from this machine's
measured per-request and per-job costs: prints every input with where it
came from (a benchmark's printed figure, the template, a price page, or a
stated assumption of the usage profile), then the AWS resources and the
monthly bill for 10 thousand, 100 thousand and 1 million monthly users
beside the AI spend, and which part gives first. Runs nothing but
arithmetic: re-run the named benchmarks to refresh an input."""
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USERS = (10_000, 100_000, 1_000_000)
SECONDS_PER_MONTH = 30 * 86_400


def _memory_mb(function):
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return config["lambda_functions"][function]["lambda_memory_size"]


# (name, value, unit, source). Measured figures name their benchmark and run;
# prices are AWS's public on-demand prices for us-east-1, as of 2026-12-03.
MEASURED = "measured on this machine (2 cores), 2026-12-03"
INPUTS = [
    # The usage profile: assumptions, stated once.
    ("jobs per user per month", 30, "jobs", "profile (assumption)"),
    ("GET /content or search per user per month", 100, "requests", "profile (assumption)"),
    ("POST/PUT/DELETE /content per user per month", 20, "requests", "profile (assumption)"),
    ("logins per user per month", 5, "requests", "profile (assumption)"),
    ("job status reads per job", 2, "requests", "profile (assumption: the client reads "
     "GET /generate-content/:id after job_completed and on reload)"),
    ("sessions per user per month", 10, "sessions", "profile (assumption)"),
    ("socket hours per session", 0.5, "h", "profile (assumption)"),
    ("peak hour over the average hour", 3, "×", "profile (assumption)"),
    ("AI seconds per job (streaming ~600 tokens)", 8, "s", "assumption (OpenRouter, "
     "gpt-4o-mini streams ~75 tokens/s)"),
    ("AI input tokens per job", 300, "tokens", "assumption (system prompt + prompt)"),
    ("AI output tokens per job", 600, "tokens", "assumption (half of max_tokens 1200, "
     "chalicelib/openrouter.py)"),
    ("stored bytes per job (prompt, result, usage)", 4_000, "B", "assumption (600 tokens "
     "≈ 2,400 characters of Markdown, plus fields)"),
    # This machine's figures.
    ("API CPU-ms per GET /content (20 items)", 1.35, "ms", f"bench.api_load 'project' row "
     f"and bench.express, 8 clients; {MEASURED}, load 0.8-2.7"),
    ("API CPU-ms per POST /content", 1.2, "ms", f"bench.express POST /content; {MEASURED}"),
    ("API CPU-ms per login, bcrypt cost 10", 62.2, "ms", "bench.api_load login row, "
     "bench/README.md 2026-12-01"),
    ("API wall ms per POST /generate-content", 20.4, "ms", "bench.limits p50 (limits on), "
     "bench/README.md 2026-12-01 (moto's SQS send inside)"),
    ("database round trips per API request", 2, "round trips", "bench.express 'DB cmds': "
     "a whole list 1 (the user joined with its items), a save 3, a status read 2; "
     "login: 3"),
    ("database round trips per job (worker)", 1.7, "round trips", "bench.worker "
     "'database round trips per job', batch of 10, users at the count kept (each finish "
     "trims one job); measured on this machine, 2026-12-07"),
    ("database round trips per job (API: insert, quota)", 3, "round trips",
     "bench.limits / POST /generate-content (assumption from its command list)"),
    ("worker CPU-ms per job beside a 50 ms AI", 3.5, "ms", f"bench.worker 'CPU per job: "
     f"worker'; {MEASURED}, load 0.7-1.4"),
    ("job_progress emits per AI second", 4, "emits", "chalicelib/notify.py "
     "PROGRESS_INTERVAL_SECONDS = 0.25"),
    ("notifier KiB per socket", 31.7, "KiB", "bench.notifier, bench/README.md 2026-12-01"),
    ("sockets per notifier task (p99 3.1 ms)", 10_000, "sockets", "bench.notifier: "
     "10,000 in 377 MiB, bench/README.md 2026-12-01"),
    ("SQS requests per job", 3, "requests", "send + receive + delete (batch of one; "
     "a full batch of ten: 1.2); bench.worker's call counts"),
    ("round-trip ms to MongoDB in the region", 1.0, "ms", "assumption (same region, "
     "ARCHITECTURE decision 21)"),
    # The template.
    ("API Lambda memory", _memory_mb("api_handler"), "MB", ".chalice/config.json"),
    ("worker Lambda memory", _memory_mb("worker"), "MB", ".chalice/config.json"),
    ("worker batch size", 10, "records", "infra/topology.yml WorkerBatchSize"),
    ("worker maximum concurrency", 5, "invocations", "infra/topology.yml "
     "WorkerMaxConcurrency default"),
    ("notifier task", "0.25 vCPU, 1 GB", "", "infra/template.yml task definition"),
    # Prices, us-east-1, 2026-12-03.
    ("Lambda per GB-s (x86)", 0.0000166667, "$", "aws.amazon.com/lambda/pricing"),
    ("Lambda per million requests", 0.20, "$", "aws.amazon.com/lambda/pricing"),
    ("Lambda memory per vCPU", 1769, "MB", "Lambda: one full vCPU at 1,769 MB"),
    ("API Gateway REST per million requests", 3.50, "$", "aws.amazon.com/api-gateway/pricing"),
    ("SQS per million requests", 0.40, "$", "aws.amazon.com/sqs/pricing"),
    ("Fargate per vCPU-hour", 0.04048, "$", "aws.amazon.com/fargate/pricing"),
    ("Fargate per GB-hour", 0.004445, "$", "aws.amazon.com/fargate/pricing"),
    ("ALB per hour", 0.0225, "$", "aws.amazon.com/elasticloadbalancing/pricing"),
    ("NAT gateway per hour", 0.045, "$", "aws.amazon.com/vpc/pricing (the worker reaches "
     "OpenRouter from the VPC)"),
    ("ElastiCache cache.t4g.micro per hour", 0.016, "$", "aws.amazon.com/elasticache/pricing"),
    ("ElastiCache cache.t4g.medium per hour", 0.065, "$", "aws.amazon.com/elasticache/pricing"),
    ("MongoDB Atlas M10 per month", 57, "$", "mongodb.com/pricing, approximate (not AWS)"),
    ("MongoDB Atlas M30 per month", 390, "$", "mongodb.com/pricing, approximate (not AWS)"),
    ("MongoDB Atlas M50 per month", 1_450, "$", "mongodb.com/pricing, approximate (not AWS)"),
    ("gpt-4o-mini per million input tokens", 0.15, "$", "openrouter.ai/openai/gpt-4o-mini"),
    ("gpt-4o-mini per million output tokens", 0.60, "$", "openrouter.ai/openai/gpt-4o-mini"),
]
VALUES = {name: value for name, value, _, _ in INPUTS}
HOURS = 730
# Atlas tiers: (name, storage GB included, database operations/s it sustains
# comfortably: an assumption, well under what the vendor's sizing allows).
ATLAS = (("M10", 10, 500), ("M30", 40, 3_000), ("M50", 160, 10_000))
# What one deployment of the template holds before it must change: Redis
# publishes/s on a cache.t4g.micro (an assumption, a tenth of its rating).
MICRO_PUBLISHES = 5_000


def model(users):
    v = VALUES
    jobs = users * v["jobs per user per month"]
    requests = users * (v["GET /content or search per user per month"]
                        + v["POST/PUT/DELETE /content per user per month"]
                        + v["logins per user per month"]) \
        + jobs * (1 + v["job status reads per job"])
    peak = v["peak hour over the average hour"] / SECONDS_PER_MONTH
    vcpu_share = v["API Lambda memory"] / v["Lambda memory per vCPU"]
    trip = v["round-trip ms to MongoDB in the region"]
    api_ms = (users * (v["GET /content or search per user per month"]
                       + v["POST/PUT/DELETE /content per user per month"])
              * (v["API CPU-ms per GET /content (20 items)"] / vcpu_share + 2 * trip)
              + users * v["logins per user per month"]
              * (v["API CPU-ms per login, bcrypt cost 10"] / vcpu_share + 3 * trip)
              + jobs * (v["API wall ms per POST /generate-content"]
                        + v["job status reads per job"] * (1.0 / vcpu_share + 2 * trip)))
    api_gbs = api_ms / 1000 * v["API Lambda memory"] / 1024
    # A batch's jobs run side by side in one invocation: at the worst (a batch
    # of one each) an invocation's duration per job is the AI's.
    worker_gbs = jobs * v["AI seconds per job (streaming ~600 tokens)"] \
        * v["worker Lambda memory"] / 1024
    jobs_in_flight = jobs * peak * v["AI seconds per job (streaming ~600 tokens)"]
    worker_concurrency = math.ceil(jobs_in_flight / v["worker batch size"])
    api_concurrency = math.ceil(api_ms / 1000 * peak)
    database_ops = (requests * 2 + jobs * (v["database round trips per job (worker)"]
                                           + v["database round trips per job (API: insert, quota)"])) * peak
    stored_gb = jobs * 12 * v["stored bytes per job (prompt, result, usage)"] / 1e9
    # The tier the operations need; storage past its share is bought beside it.
    atlas = next(((name, gb, ops) for name, gb, ops in ATLAS if database_ops <= ops), ATLAS[-1])
    redis_ops = jobs * peak * (v["job_progress emits per AI second"]
                               * v["AI seconds per job (streaming ~600 tokens)"] + 1)
    redis_node = "cache.t4g.micro" if redis_ops < MICRO_PUBLISHES else "cache.t4g.medium"
    sockets = users * v["sessions per user per month"] * v["socket hours per session"] \
        / HOURS * v["peak hour over the average hour"]
    tasks = max(2, math.ceil(sockets / v["sockets per notifier task (p99 3.1 ms)"]))
    bill = {
        "API Gateway": requests / 1e6 * v["API Gateway REST per million requests"],
        "Lambda": (api_gbs + worker_gbs) * v["Lambda per GB-s (x86)"]
        + (requests + jobs) / 1e6 * v["Lambda per million requests"],
        "SQS": jobs * v["SQS requests per job"] / 1e6 * v["SQS per million requests"],
        "notifier (Fargate + ALB)": tasks * HOURS * (0.25 * v["Fargate per vCPU-hour"]
                                                     + 1 * v["Fargate per GB-hour"])
        + HOURS * v["ALB per hour"],
        "NAT gateway": HOURS * v["NAT gateway per hour"],
        "ElastiCache": HOURS * v[f"ElastiCache {redis_node} per hour"],
        f"MongoDB Atlas {atlas[0]}": v[f"MongoDB Atlas {atlas[0]} per month"],
    }
    ai = jobs * (v["AI input tokens per job"] * v["gpt-4o-mini per million input tokens"]
                 + v["AI output tokens per job"] * v["gpt-4o-mini per million output tokens"]) / 1e6
    # Each part's load against what the template deploys (and Atlas M10).
    limits = {
        "the worker's maximum concurrency (5)": worker_concurrency / v["worker maximum concurrency"],
        "Atlas M10's 10 GB of storage (a year of jobs)": stored_gb / ATLAS[0][1],
        "Atlas M10's operations at peak": database_ops / ATLAS[0][2],
        "two notifier tasks' sockets": sockets / (2 * v["sockets per notifier task (p99 3.1 ms)"]),
        "cache.t4g.micro's publishes": redis_ops / MICRO_PUBLISHES,
    }
    return {"users": users, "requests": requests, "jobs": jobs,
            "api_concurrency": api_concurrency, "worker_concurrency": worker_concurrency,
            "database_ops": database_ops, "stored_gb": stored_gb, "atlas": atlas[0],
            "redis_ops": redis_ops, "redis_node": redis_node, "sockets": sockets,
            "tasks": tasks, "bill": bill, "ai": ai, "limits": limits}


def main():
    print("Inputs (every figure the model uses, and where it came from):")
    for name, value, unit, source in INPUTS:
        print(f"  {name:<52} {value!s:>14} {unit:<12} {source}")
    rows = [model(users) for users in USERS]
    print(f"\n{'monthly users':<36}" + "".join(f"{row['users']:>16,}" for row in rows))
    lines = [
        ("API requests/month", lambda r: f"{r['requests'] / 1e6:.1f} M"),
        ("jobs/month", lambda r: f"{r['jobs'] / 1e6:.2f} M"),
        ("API Lambda concurrency, peak", lambda r: f"{r['api_concurrency']}"),
        ("worker invocations in flight, peak", lambda r: f"{r['worker_concurrency']}"),
        ("MongoDB operations/s, peak", lambda r: f"{r['database_ops']:.0f}"),
        ("MongoDB GB stored after a year", lambda r: f"{r['stored_gb']:.1f}"),
        ("MongoDB tier", lambda r: r["atlas"]),
        ("Redis publishes/s, peak", lambda r: f"{r['redis_ops']:.0f}"),
        ("ElastiCache node", lambda r: r["redis_node"]),
        ("sockets at peak", lambda r: f"{r['sockets']:.0f}"),
        ("notifier tasks", lambda r: f"{r['tasks']}"),
    ]
    for label, cell in lines:
        print(f"{label:<36}" + "".join(f"{cell(row):>16}" for row in rows))
    for part in rows[0]["bill"]:
        if part.startswith("MongoDB"):
            continue
        print(f"{'$ ' + part:<36}" + "".join(f"{row['bill'][part]:>16,.0f}" for row in rows))
    print(f"{'$ MongoDB Atlas':<36}" + "".join(
        f"{[value for part, value in row['bill'].items() if part.startswith('MongoDB')][0]:>16,.0f}"
        for row in rows))
    print(f"{'$ AWS + Atlas, total':<36}" + "".join(
        f"{sum(row['bill'].values()):>16,.0f}" for row in rows))
    print(f"{'$ AI (gpt-4o-mini)':<36}" + "".join(f"{row['ai']:>16,.0f}" for row in rows))
    for row in rows:
        ranked = sorted(row["limits"].items(), key=lambda item: -item[1])
        print(f"{row['users']:>9,} users, load on what the template deploys: "
              + "; ".join(f"{part} {load * 100:.0f} %" for part, load in ranked[:3]))


if __name__ == "__main__":
    main()
