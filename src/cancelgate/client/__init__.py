"""Deprecated: the client is its own distribution now, `cancelgate-client`; import
`cancelgate_client` instead. This alias re-exports its names for one release, then goes away."""

import warnings

import cancelgate_client
from cancelgate_client import *  # noqa: F403

__all__ = cancelgate_client.__all__

warnings.warn(
    "cancelgate.client is deprecated: import cancelgate_client (distribution cancelgate-client)",
    DeprecationWarning,
    stacklevel=2,
)
