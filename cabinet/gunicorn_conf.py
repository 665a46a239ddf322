"""gunicorn's settings for the cabinet, the same for `svod serve` and the production unit
(`gunicorn -c python:cabinet.gunicorn_conf`). gunicorn's arbiter owns the web processes: it starts them, restarts
one that dies or hangs past `timeout`, and stops them gracefully on SIGTERM. Each web process forks its share of
the checking processes once its application is loaded (`post_worker_init`)."""

wsgi_app = "cabinet.wsgi:application"
raw_env = ["DJANGO_SETTINGS_MODULE=cabinet.served_settings"]
worker_class = "gthread"  # threads per process (`--threads`): pages go on while an upload is checked
timeout = 180  # seconds a web process may be silent (a large upload's check) before the arbiter replaces it
graceful_timeout = 30
keepalive = (
    30  # seconds an idle connection stays open (gthread keeps it off the threads): a school's next click
)
forwarded_allow_ips = "127.0.0.1"  # TLS ends at a local proxy; only it may say the scheme was https
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
proc_name = "svod-cabinet"
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


def post_worker_init(worker) -> None:
    from cabinet import engine

    engine.start_checking(worker.cfg.workers)


def worker_exit(server, worker) -> None:
    from cabinet import engine

    engine.stop_checking()
