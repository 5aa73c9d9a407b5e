"""The Dokploy control plane as code: one declaration per environment (``dokploy-cloud:controlPlane`` in
``Pulumi.<env>.yaml``), rendered into cloud-init, a compose file and a systemd unit (:mod:`.render`), applied by
the ``<env>.control-plane`` stack (:mod:`.program`)."""
