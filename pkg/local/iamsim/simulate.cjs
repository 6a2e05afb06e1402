// Runs each simulation of the JSON array on standard input through
// @cloud-copilot/iam-simulate and prints, for each, the decision and the
// statements that matched (by policy kind, policy name and Sid).
const path = require('path');
const { runSimulation } = require('@cloud-copilot/iam-simulate');
const { loadPolicy } = require('@cloud-copilot/iam-policy');

// runSimulation drops context keys whose variable part follows a colon
// (kms:EncryptionContext:SecretARN): its check of which keys apply to an
// action knows only variables after a slash (aws:PrincipalTag/x). AWS
// evaluates them, so a request that carries one is evaluated again by the
// same package's core engine with every key, as its runUnsafeSimulation
// does, keeping the analysis. (Only keys the action documents are passed.)
const dist = path.dirname(require.resolve('@cloud-copilot/iam-simulate'));
const { authorize } = require(path.join(dist, 'core_engine/CoreSimulatorEngine.js'));
const { AwsRequestImpl } = require(path.join(dist, 'request/request.js'));
const { RequestContextImpl } = require(path.join(dist, 'requestContext.js'));
const { DiscoveryContextKeyConstraints } = require(path.join(dist, 'context_keys/discoveryContextKeyConstraints.js'));
const colonVariable = /^[^:]+:[^:/]+:.+$/;

const authorizeWithEveryKey = (s) => authorize({
  request: new AwsRequestImpl(s.principal, { resource: s.resource, accountId: s.resourceAccount }, s.action, new RequestContextImpl(s.context || {})),
  sessionPolicy: undefined,
  identityPolicies: (s.identityPolicies || []).map((p) => loadPolicy(p.policy, { name: p.name })),
  serviceControlPolicies: s.scps && s.scps.length ? [{ orgIdentifier: 'r-root', policies: s.scps.map((p) => loadPolicy(p.policy, { name: p.name })) }] : [],
  resourceControlPolicies: [],
  resourcePolicy: s.resourcePolicy ? loadPolicy(s.resourcePolicy, { name: 'resource' }) : undefined,
  permissionBoundaries: s.permissionBoundaries && s.permissionBoundaries.length ? s.permissionBoundaries.map((p) => loadPolicy(p.policy, { name: p.name })) : undefined,
  vpcEndpointPolicies: undefined,
  simulationParameters: { simulationMode: 'Strict', discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) },
  serviceSettings: { s3: {} },
});

const read = () => new Promise((resolve) => {
  let data = '';
  process.stdin.on('data', (c) => { data += c; });
  process.stdin.on('end', () => resolve(JSON.parse(data)));
});

const matched = (kind, analysis, out) => {
  if (!analysis) return;
  for (const [effect, list] of [['Allow', analysis.allowStatements], ['Deny', analysis.denyStatements]]) {
    for (const s of list || []) {
      const st = JSON.parse(JSON.stringify(s.statement));
      out.push({ kind, effect, policy: s.policyId || '', sid: st.Sid || '', statement: st });
    }
  }
};

(async () => {
  const sims = await read();
  const results = [];
  for (const s of sims) {
    const r = await runSimulation({
      request: {
        principal: s.principal,
        action: s.action,
        resource: { resource: s.resource, accountId: s.resourceAccount },
        contextVariables: s.context || {},
      },
      identityPolicies: s.identityPolicies || [],
      serviceControlPolicies: s.scps && s.scps.length ? [{ orgIdentifier: 'r-root', policies: s.scps }] : [],
      resourceControlPolicies: [],
      resourcePolicy: s.resourcePolicy || undefined,
      permissionBoundaryPolicies: s.permissionBoundaries && s.permissionBoundaries.length ? s.permissionBoundaries : undefined,
    }, {});
    if (r.resultType === 'error') {
      results.push({ decision: 'Error', error: JSON.stringify(r.errors) });
      continue;
    }
    const res = r.resultType === 'single' ? r.result : (r.results[0] || {});
    let a = res.analysis || {};
    let ignored = res.ignoredContextKeys || [];
    let decision = r.overallResult;
    if (ignored.some((k) => colonVariable.test(k))) {
      a = authorizeWithEveryKey(s);
      decision = a.result;
      ignored = ignored.filter((k) => !colonVariable.test(k));
    }
    const statements = [];
    matched('identity', a.identityAnalysis, statements);
    matched('resource', a.resourceAnalysis, statements);
    matched('boundary', a.permissionBoundaryAnalysis, statements);
    for (const ou of (a.scpAnalysis && a.scpAnalysis.ouAnalysis) || []) matched('scp', ou, statements);
    results.push({ decision, statements, ignoredContextKeys: ignored });
  }
  process.stdout.write(JSON.stringify(results));
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
