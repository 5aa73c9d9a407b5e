"""The operator web page: server-rendered HTML (Jinja2), behind the operator token, no front-end build."""
