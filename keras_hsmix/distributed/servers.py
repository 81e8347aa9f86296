"""``tf.data`` service servers: start a dispatcher or a worker, and say truthfully where they listen.

TensorFlow binds both to every network interface and speaks plain gRPC without authentication; see
``docs/distributed.md`` (trust model) before starting them on a machine with a public address.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


#: What TensorFlow's data service servers listen on: ``GrpcDataServerBase::Start`` asks gRPC for
#: ``0.0.0.0:PORT``, which gRPC opens as the dual-stack wildcard ``[::]:PORT`` (every interface, IPv4 and
#: IPv6; ``ss -ltn`` shows ``*:PORT``). Neither ``DispatcherConfig`` nor ``WorkerConfig`` has a bind-address
#: field (``worker_address`` is only the address advertised to clients). Checked on TensorFlow 2.21.
BIND_HOST = "*"

EXPOSURE = (
    "warning: the {role} listens on every network interface, IPv4 and IPv6 ({host}:{port}), over plain gRPC "
    "with no authentication and no encryption: anyone who can reach this port can register workers, read the "
    "data and run dataset graphs here. Run it only on a trusted network, behind a firewall rule that admits only "
    "the training machines, or through an SSH tunnel (see docs/distributed.md)"
)


def check_address(address: str, name: str) -> str:
    """``"host:port"`` (``grpc://`` stripped), or ``ValueError`` naming ``name``.

    TensorFlow does not check it: a worker given a dispatcher address without a port, or with a host
    that does not resolve, starts and retries its heartbeat forever, logging "Failed to Worker heartbeat".

    Example:
        >>> check_address("grpc://localhost:5050", "dispatcher_address")
        'localhost:5050'
    """
    plain = str(address).split("://")[-1]
    host, _, port = plain.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name} must be 'host:port' (e.g. 'dispatcher-host:5050'), got {address!r}")
    return plain


def listening_port(server: Any) -> int:
    """The port a dispatcher or worker really listens on (the bound one when started with ``port=0``)."""
    target = getattr(server, "target", None) or getattr(server, "_address", "")
    return int(str(target).rsplit(":", 1)[-1])


def exposure_notice(role: str, server: Any) -> str:
    """The warning :func:`main` prints when a server is up: where it really listens and who can reach it.

    Example:
        >>> server = start_dispatcher(port=0)
        >>> exposure_notice("dispatcher", server).startswith("warning: the dispatcher listens on every network")
        True
        >>> server.stop()
    """
    return EXPOSURE.format(role=role, host=BIND_HOST, port=listening_port(server))


def start_dispatcher(
    port: int = 5050, work_dir: str | None = None, fault_tolerant_mode: bool = False
) -> tf.data.experimental.service.DispatchServer:
    """Starts a ``tf.data`` service dispatcher in this process (``port=0``: any free port).

    With ``work_dir`` (shared storage) and ``fault_tolerant_mode=True`` a restarted
    dispatcher recovers its state. ``server.target`` is ``"grpc://localhost:PORT"``;
    keep ``server`` alive (``server.join()``) for as long as it serves.

    Exposure: TensorFlow binds the dispatcher to every network interface (``0.0.0.0:PORT``, which
    gRPC opens as ``[::]:PORT``, IPv4 and IPv6), whatever the target says, and its public API offers no way to bind to localhost only. It
    speaks plain gRPC without authentication: run it on a trusted network, behind a firewall
    rule or through a tunnel only (``docs/distributed.md``).

    Example:
        >>> server = start_dispatcher(port=0)
        >>> server.target.startswith("grpc://localhost:")
        True
        >>> server.stop()
    """
    config = tf.data.experimental.service.DispatcherConfig(
        port=port, work_dir=work_dir, fault_tolerant_mode=fault_tolerant_mode
    )
    return tf.data.experimental.service.DispatchServer(config)


def start_worker(
    dispatcher_address: str, port: int = 5051, worker_address: str | None = None
) -> tf.data.experimental.service.WorkerServer:
    """Starts a ``tf.data`` service worker in this process and registers it with the dispatcher.

    Args:
        dispatcher_address: ``"host:port"`` of the dispatcher (no ``grpc://``).
        port: this worker's port (``0``: any free port).
        worker_address: how the clients reach this worker, ``"host:%port%"``
            style (default ``"localhost:%port%"``; set it to the machine's host
            name when the clients run elsewhere). This is only the address the
            dispatcher hands to clients: the worker listens on every interface
            (``*:PORT``) either way, as the dispatcher does (see
            :func:`start_dispatcher` on exposure).

    Example:
        >>> dispatcher = start_dispatcher(port=0)
        >>> worker = start_worker(dispatcher.target.split("://")[1], port=0)
        >>> worker.stop(); dispatcher.stop()
    """
    address = check_address(dispatcher_address, "dispatcher_address")
    config = tf.data.experimental.service.WorkerConfig(
        dispatcher_address=address, port=port, worker_address=worker_address
    )
    return tf.data.experimental.service.WorkerServer(config)
