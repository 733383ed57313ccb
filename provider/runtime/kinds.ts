import { helperRuleKind } from "../resources/helper-rule/kind";
import { helperSettingKind } from "../resources/helper-setting/kind";
import { moduleBlacklistKind } from "../resources/module-blacklist/kind";
import { notrackRuleKind } from "../resources/notrack-rule/kind";
import { tableSizeKind } from "../resources/table-size/kind";
import { registerKind } from "./registry";

// Registered by type name: the serialized provider in state names only the type, so this table is
// the contract between every release's state and the code installed now. Static imports keep the
// kinds loadable from sources (tests) as well as from dist/.
registerKind("ConntrackHelperSetting", () => helperSettingKind);
registerKind("NotrackRule", () => notrackRuleKind);
registerKind("ModuleBlacklist", () => moduleBlacklistKind);
registerKind("ConntrackTableSize", () => tableSizeKind);
registerKind("ConntrackHelperRule", () => helperRuleKind);
