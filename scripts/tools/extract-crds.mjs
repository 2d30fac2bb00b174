// Keeps the named CustomResourceDefinitions of a multi-document YAML file.
//   node extract-crds.mjs SRC.yaml OUT.yaml NAME...
// Dependency-free (runs before `npm ci`): documents are split on `---` lines and a document is kept
// when it has a top-level `kind: CustomResourceDefinition` and a `metadata.name` in NAME....
import { readFileSync, writeFileSync, renameSync } from 'node:fs';

const [src, out, ...names] = process.argv.slice(2);
if (!src || !out || names.length === 0) {
  console.error('usage: node extract-crds.mjs SRC.yaml OUT.yaml NAME...');
  process.exit(2);
}

/** metadata.name of a YAML document, read from the indented block under the top-level `metadata:`. */
function metadataName(doc) {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => /^metadata:\s*$/.test(l));
  if (start < 0) return undefined;
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    if (!/^\s/.test(line)) break; // next top-level key
    const m = /^ {2}name:\s*["']?([^"'\s#]+)/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

const wanted = new Set(names);
const kept = new Map();
for (const doc of readFileSync(src, 'utf8').split(/^---[^\S\n]*$/m)) {
  if (!/^kind:\s*CustomResourceDefinition\s*$/m.test(doc)) continue;
  const name = metadataName(doc);
  if (name && wanted.has(name) && !kept.has(name)) kept.set(name, doc.replace(/^\n+/, '').replace(/\s*$/, '\n'));
}
const missing = names.filter((n) => !kept.has(n));
if (missing.length > 0) {
  console.error(`extract-crds: not found in ${src}: ${missing.join(', ')}`);
  process.exit(1);
}
const header = `# Extracted by scripts/tools/install.sh from ${src.replace(/^.*\/mod\//, '')}\n`;
const body = names.map((n) => kept.get(n)).join('---\n');
writeFileSync(`${out}.tmp`, `${header}---\n${body}`);
renameSync(`${out}.tmp`, out);
console.log(`extract-crds: wrote ${names.join(', ')} to ${out}`);
