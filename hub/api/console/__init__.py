"""The operator console (issue 17): server-rendered pages for operators, engineers and
auditors, served by the hub at /ui/ on the same accounts and the same casbin policy as the
API. `hub.api.console.app.console_handlers` is what the API app mounts; docs/CONSOLE.md
says how it is built and how a page is added."""
