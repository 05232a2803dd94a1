// Runs @doyensec/electronegativity on a folder, offline, and prints its findings as JSON.
// (Electronegativity fetches updated translations over the network when it starts; here that
// request is answered "offline" at once, so it uses the translations it ships.)
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, parent, ...rest) {
  if (request === 'got' && parent && /electronegativity/.test(parent.filename)) return () => Promise.reject(new Error('offline'));
  return load.call(this, request, parent, ...rest);
};
const run = require('@doyensec/electronegativity');
const [input, electronVersion] = process.argv.slice(2);
const log = console.log;
console.log = () => {}; // progress chatter
run({ input, electronVersionOverride: electronVersion, isRelative: true, parserPlugins: ['optionalChaining'] })
  .then((result) => {
    log(`ELECTRONEGATIVITY ${JSON.stringify(result)}`);
  })
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
