"""Interoperability with other gait toolboxes: OpenGait checkpoints (:mod:`gstsn.interop.opengait`)."""
