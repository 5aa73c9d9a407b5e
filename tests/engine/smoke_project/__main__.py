"""Engine smoke program: one dynamic-provider resource and one `random` resource.

The dynamic resource writes a marker file whose path comes from stack config, so a test can
observe create, no-op preview and delete from outside the engine.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random
from marker import MarkerFile

config = pulumi.Config()
suffix = random.RandomString("suffix", length=8, special=False, upper=False)
marker = MarkerFile(
    "marker",
    path=config.require("markerPath"),
    content=suffix.result.apply(lambda s: f"hello-{s}"),
)
pulumi.export("suffix", suffix.result)
pulumi.export("markerPath", marker.path)
pulumi.export("markerContent", marker.content)
