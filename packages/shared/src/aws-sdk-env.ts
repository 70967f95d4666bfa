/**
 * The AWS SDK warns once per process that its Node 20 support ends; we know, and the
 * warning would otherwise land in every process's logs. The SDK reads these variables
 * when a client is built, so setting a default here (imported before any client is
 * built) is enough; an operator's explicit value still wins.
 */
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
process.env['AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING'] ??= 'true';
