// Runs tests/micropython_scenario.py on PyScript's MicroPython (the npm package in public/), under
// Node, with the widget's package on its path; prints the scenario's results as JSON.
import fs from "node:fs";
import { loadMicroPython } from "../public/node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs";

const file = (path) => fs.readFileSync(new URL(path, import.meta.url));
const mp = await loadMicroPython({ stdout: (line) => console.error(line), stderr: (line) => console.error(line) });
mp.FS.mkdir("/app");
mp.FS.mkdir("/app/imagechat_widget");
for (const name of fs.readdirSync(new URL("../widget/imagechat_widget/", import.meta.url))) {
  if (name.endsWith(".py")) mp.FS.writeFile(`/app/imagechat_widget/${name}`, file(`../widget/imagechat_widget/${name}`));
}
// As in the browser: the server's protocol.py, served as the widget's.
mp.FS.writeFile("/app/imagechat_widget/protocol.py", file("../server/imagechat/protocol.py"));
mp.FS.writeFile("/app/scenario.py", file("./micropython_scenario.py"));
mp.runPython("import sys\nsys.path.insert(0, '/app')\nimport json, scenario\nout = json.dumps(scenario.results())");
process.stdout.write(mp.globals.get("out"));
