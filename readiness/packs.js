'use strict';
// Evaluates cdk-nag packs rule by rule over a synthesized cloud assembly.
//
// cdk-nag 3.x reports only unacknowledged non-compliant findings. To tell compliant,
// not applicable and acknowledged apart, this rebuilds the construct tree recorded in
// the assembly's tree.json (same paths, same L1 classes, same properties and logical
// IDs), runs the same packs over it and records every rule result.
//
// Usage: node packs.js ASSEMBLY_DIR PACK_CLASS[,PACK_CLASS...]
// Needs aws-cdk-lib, constructs and cdk-nag on NODE_PATH; prints one JSON document.

const fs = require('fs');
const path = require('path');
const cdk = require('aws-cdk-lib');
const { Construct } = require('constructs');
const nag = require('cdk-nag');

const [assemblyDir, packList] = process.argv.slice(2);
const readJson = (file) => JSON.parse(fs.readFileSync(path.join(assemblyDir, file), 'utf8'));

const manifest = readJson('manifest.json');
const treeArtifact = Object.values(manifest.artifacts).find((a) => a.type === 'cdk:tree');
const tree = readJson(treeArtifact ? treeArtifact.properties.file : 'tree.json').tree;

// Resource type, logical ID and properties of every templated resource, by construct path
// (from the stack's metadata file, or the template's aws:cdk:path metadata).
const templated = {};
const stackRegions = {};
for (const [name, artifact] of Object.entries(manifest.artifacts)) {
  if (artifact.type !== 'aws:cloudformation:stack') continue;
  const region = (artifact.environment || '').split('/').pop();
  if (region && region !== 'unknown-region') stackRegions[name] = region;
  const template = readJson(artifact.properties.templateFile);
  const resources = template.Resources || {};
  const entries = artifact.additionalMetadataFile ? readJson(artifact.additionalMetadataFile) : artifact.metadata || {};
  for (const [metadataPath, list] of Object.entries(entries)) {
    for (const entry of list) {
      if (entry.type === 'aws:cdk:logicalId' && resources[entry.data]) {
        templated[metadataPath.replace(/^\//, '')] = { logicalId: entry.data, ...resources[entry.data] };
      }
    }
  }
  for (const [logicalId, resource] of Object.entries(resources)) {
    const cdkPath = (resource.Metadata || {})['aws:cdk:path'];
    if (cdkPath) templated[cdkPath] = { logicalId, ...resource };
  }
}

function l1Class(fqn) {
  const parts = (fqn || '').split('.');
  if (parts[0] !== 'aws-cdk-lib' || parts.length !== 3) return undefined;
  const moduleExports = cdk[parts[1]];
  const cls = moduleExports && moduleExports[parts[2]];
  return cls && cls.prototype instanceof cdk.CfnResource ? cls : undefined;
}

// Intrinsics ({Ref}, {Fn::*}) become tokens again, as they were when the packs ran at synth.
function tokenize(value) {
  if (Array.isArray(value)) return value.map(tokenize);
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) return cdk.Token.asString(value);
  return Object.fromEntries(keys.map((key) => [key, tokenize(value[key])]));
}

function build(scope, node) {
  const fqn = (node.constructInfo || {}).fqn;
  const attributes = node.attributes || {};
  const cls = l1Class(fqn);
  let construct;
  if (cls && attributes['aws:cdk:cloudformation:props'] !== undefined) {
    construct = new cls(scope, node.id, tokenize(attributes['aws:cdk:cloudformation:props']));
    construct.overrideLogicalId(attributes['aws:cdk:cloudformation:logicalId']);
  } else if (fqn === 'aws-cdk-lib.CfnResource' && templated[node.path]) {
    const { Type: type, Properties: properties, logicalId } = templated[node.path];
    construct = new cdk.CfnResource(scope, node.id, { type, properties: properties || {} });
    construct.overrideLogicalId(logicalId);
  } else {
    construct = new Construct(scope, node.id);
  }
  for (const child of Object.values(node.children || {})) build(construct, child);
}

const app = new cdk.App();
for (const stackNode of Object.values(tree.children || {})) {
  if ((stackNode.constructInfo || {}).fqn !== 'aws-cdk-lib.Stack') continue;
  const region = stackRegions[stackNode.id];
  const stack = new cdk.Stack(app, stackNode.id, region ? { env: { region } } : {});
  for (const child of Object.values(stackNode.children || {})) build(stack, child);
}

const rules = {};
const results = [];
nag.NagPack.prototype.applyRule = function record(params) {
  const suffix = params.ruleSuffixOverride ? params.ruleSuffixOverride : params.rule.name;
  const ruleId = `${this.packName}-${suffix}`;
  if (!(ruleId in rules)) rules[ruleId] = { pack: this.packName, info: params.info, level: params.level };
  let outcome;
  try {
    const result = params.rule(params.node);
    if (Array.isArray(result)) {
      outcome = result.length ? { status: 'findings', findings: result } : { status: 'compliant' };
    } else if (result === nag.NagRuleCompliance.NON_COMPLIANT) {
      outcome = { status: 'non-compliant' };
    } else if (result === nag.NagRuleCompliance.COMPLIANT) {
      outcome = { status: 'compliant' };
    } else {
      return;
    }
  } catch (error) {
    outcome = { status: 'error', message: String(error && error.message) };
  }
  results.push({ rule: ruleId, path: params.node.node.path, ...outcome });
};

const packs = {};
for (const className of packList.split(',')) {
  const Pack = nag[className];
  if (!Pack) throw new Error(`cdk-nag has no pack ${className}`);
  const pack = new Pack();
  pack.validateScope(app);
  packs[className] = pack.readPackName;
}

process.stdout.write(JSON.stringify({ packs, rules, results }));
