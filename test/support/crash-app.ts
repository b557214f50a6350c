// An app that fails at once, as a broken deploy does: it prints a line and exits 3 before
// it ever listens. For the supervisor's crash-loop back-off test.
process.stdout.write(`crash-app ${process.env.REDSHIRT_INSTANCE_ID} starting, and failing\n`);
process.exit(3);
