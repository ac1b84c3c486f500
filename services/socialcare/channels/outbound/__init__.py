"""Outbound connectors: agents' replies posted to the customers' channels.

`clients` knows each platform's reply endpoint (request and answer, pure), `retry` when to
try again, `sender` posts one reply (or a batch) and reports a `ReplyDelivery`, and
`processor` is the consumer-loop plug-in (group `connectors`: care.outbound in,
care.deliveries out) that never posts a reply twice.
"""
