// A typedoc plugin (typedoc.json "plugin"): puts each export of the entry points in a group named after the
// folder of lib/ that defines it, so the API reference reads by subject (Models, Modules, Tensors, IO, Images, Quantization,
// Engine, Serving, Errors) instead of by kind (Classes, Functions, …). One table here instead of a `@group`
// tag on every export; an explicit `@group` tag in a doc comment still wins. An export from a file the table
// does not cover fails the docs build, so a new folder cannot slip into "Functions".
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Comment, CommentTag, Converter, DeclarationReflection, ReferenceReflection, ReflectionKind } from 'typedoc';

const lib = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib');

/** Paths under lib/ (a folder ends in '/'), first match wins. */
const groups = [
  ['errors.ts', 'Errors'],
  ['tensor.ts', 'Tensors'],
  ['random.ts', 'Tensors'],
  ['models/', 'Models'],
  ['data/', 'Models'],
  ['nn/', 'Modules'],
  ['io/', 'IO'],
  ['vision/', 'Images'],
  ['quantization/', 'Quantization'],
  ['compile/', 'Engine'],
  ['runtime/', 'Engine'],
  ['version.ts', 'Engine'],
  ['server/', 'Serving'],
];

/** The group of an export defined in `file`; error classes go to Errors wherever they are defined. */
function groupOf(file, reflection) {
  if (reflection.kindOf(ReflectionKind.Class) && reflection.name.endsWith('Error')) return 'Errors';
  const relative = path.relative(lib, file).split(path.sep).join('/');
  return groups.find(([prefix]) => (prefix.endsWith('/') ? relative.startsWith(prefix) : relative === prefix))?.[1];
}

/** Whether a comment already names a group. */
const hasGroup = (comment) => comment?.blockTags.some((tag) => tag.tag === '@group') ?? false;

/** @param {import('typedoc').Application} app */
export function load(app) {
  /** The file that declares each reflection's symbol, recorded while converting. */
  const files = new Map();
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    const declaration = context.getSymbolFromReflection(reflection)?.declarations?.[0];
    if (declaration) files.set(reflection, declaration.getSourceFile().fileName);
  });
  // Before typedoc's own GroupPlugin, which reads the tags at priority -100.
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const modules = context.project.children?.some((c) => c.kindOf(ReflectionKind.Module)) ? context.project.children : [context.project];
    for (const module of modules) {
      for (const child of module.children ?? []) {
        if (!(child instanceof DeclarationReflection)) continue;
        const signatures = child.getNonIndexSignatures();
        if (hasGroup(child.comment) || signatures.some((s) => hasGroup(s.comment))) continue;
        // A re-export (a reference) takes its target's group.
        const target = child instanceof ReferenceReflection ? child.getTargetReflectionDeep() : child;
        const file = files.get(target);
        const explicit = [target.comment, ...target.getNonIndexSignatures().map((s) => s.comment)]
          .flatMap((c) => c?.blockTags ?? []).find((t) => t.tag === '@group');
        const group = explicit ? explicit.content.map((part) => part.text).join('').trim() : file && groupOf(file, target);
        if (!group) {
          app.logger.error(`typedoc-groups: ${child.name} (${file ?? 'unknown file'}) has no group: add its file to scripts/typedoc-groups.mjs`);
          continue;
        }
        const tag = new CommentTag('@group', [{ kind: 'text', text: group }]);
        const comment = child.comment ?? signatures[0]?.comment;
        if (comment) comment.blockTags.push(tag);
        else child.comment = new Comment([], [tag]);
      }
    }
  }, 100);
}
