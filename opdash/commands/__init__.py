"""The ``opdash`` subcommands, one module each: ``add_arguments(parser)`` and ``run(args)``.

Modules import only what parsing needs at the top; the work (catalog, metrics, Panel) is imported
inside ``run`` so that a command that does not draw never imports Panel or HoloViews.
"""

#: (command name, module under opdash.commands, one-line help), in the order ``--help`` lists them.
COMMANDS = [
    ("demo", "demo", "write a realistic, deterministic demo artifact folder"),
    ("info", "info", "what the folder holds and what was quarantined"),
    ("funnel", "funnel", "a conversion funnel"),
    ("trend", "trend", "a metric per calendar bucket in a time zone"),
    ("retention", "retention", "of entities that started in a period, who came back later"),
    ("paths", "paths", "where entities go after an event, or how they came to one"),
    ("goals", "goals", "goal progress against the expected pace (goals.yaml)"),
    ("today", "today", "the operator's day at a glance"),
    ("chain", "chain", "one workflow's events as a tree by parent_event_id"),
    ("pipeline", "pipeline", "each workflow's current stage, and which ones are stuck"),
    ("snapshot", "snapshot", "the status as deterministic files to archive (JSON and HTML)"),
    ("check", "check", "every problem of the dashboard spec, goals.yaml and the data"),
    ("serve", "serve", "serve the dashboard"),
    ("audit", "audit", "a read-only proof of what serving the folder exposes"),
]
