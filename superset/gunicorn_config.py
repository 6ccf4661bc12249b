"""gunicorn settings for Superset (`gunicorn -c superset/gunicorn_config.py`).

The app is built once, in the master (`preload_app`), and the workers are forked from it:
importing Superset and building its app took 20 s here, which every worker would otherwise
pay again at start (8 workers on 2 busy cores did not answer /health in 2
minutes). A forked worker must not share the master's pooled connections to the metadata
database, so its pool is dropped (without closing the master's connections) after the fork.
"""

preload_app = True


def post_fork(server, worker):
    from superset.extensions import db

    with server.app.wsgi().app_context():
        db.engine.dispose(close=False)
