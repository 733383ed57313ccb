// Harness self-test program: a dynamic resource whose provider is defined here (serialized by value),
// managing files in a local directory, so that the engine's rules can be checked without any host.
import * as pulumi from "@pulumi/pulumi";

const cfg = new pulumi.Config();
const dir = cfg.require("dir");
// name -> content, or name -> { content, file } to put it under another file name.
const files = cfg.requireObject<Record<string, string | { content: string; file: string }>>("files");
const token = cfg.requireSecret("token");
// Each file names the previous one's id (a dependency whose value is unknown in preview when the
// previous one is to be created or replaced); off, the files are independent.
const chain = cfg.getBoolean("chain") ?? true;

interface FileInputs {
  path: string;
  content: string;
  token: string;
  after?: string;
}

const provider: pulumi.dynamic.ResourceProvider = {
  async check(_olds, news) {
    const failures = String(news.content).includes("forbidden") ? [{ property: "content", reason: "must not say forbidden" }] : [];
    return { inputs: news, failures };
  },
  async diff(_id, olds, news) {
    const replaces = olds.path !== news.path ? ["path"] : [];
    const changes = replaces.length > 0 || olds.content !== news.content || olds.after !== news.after;
    return { changes, replaces, deleteBeforeReplace: false };
  },
  async create(inputs: FileInputs) {
    require("fs").writeFileSync(inputs.path, inputs.content);
    return { id: inputs.path, outs: { ...inputs, length: inputs.content.length } };
  },
  async read(id, props) {
    const fs = require("fs");
    if (!fs.existsSync(props.path)) return {};
    const content = fs.readFileSync(props.path, "utf8");
    const inputs = { path: props.path, content, token: props.token, ...(props.after === undefined ? {} : { after: props.after }) };
    return { id, props: { ...props, content, length: content.length }, inputs };
  },
  async update(_id, _olds, news: FileInputs) {
    require("fs").writeFileSync(news.path, news.content);
    return { outs: { ...news, length: news.content.length } };
  },
  async delete(_id, props) {
    require("fs").rmSync(props.path, { force: true });
  },
};

class LocalFile extends pulumi.dynamic.Resource {
  declare readonly length: pulumi.Output<number>;
  constructor(
    name: string,
    args: { path: pulumi.Input<string>; content: pulumi.Input<string>; token: pulumi.Input<string>; after?: pulumi.Input<string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(provider, name, { length: undefined, ...args }, { ...opts, additionalSecretOutputs: ["length"] }, "harness", "LocalFile");
  }
}

let previous: LocalFile | undefined;
const ids: Record<string, pulumi.Output<string>> = {};
const lengths: Record<string, pulumi.Output<number>> = {};
for (const [name, spec] of Object.entries(files)) {
  const { content, file } = typeof spec === "string" ? { content: spec, file: name } : spec;
  const f: LocalFile = new LocalFile(name, {
    path: `${dir}/${file}`,
    content,
    token,
    ...(chain && previous ? { after: previous.id } : {}),
  });
  ids[name] = f.id;
  lengths[name] = f.length;
  previous = f;
}
export { ids, lengths };
