// The phx extension: starts `phx lsp`, runs the current experiment in a
// terminal, and previews its DAG (drawn by `phx graph --format svg`) in a
// webview that follows the file as it is saved.
import * as cp from "child_process";
import * as path from "path";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";

let client: LanguageClient | undefined;

function phxPath(): string {
  return vscode.workspace.getConfiguration("phx").get<string>("path") || "phx";
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const serverOptions: ServerOptions = { command: phxPath(), args: ["lsp"] };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file", language: "phx" }, { scheme: "untitled", language: "phx" }],
  };
  client = new LanguageClient("phx", "phx language server", serverOptions, clientOptions);
  await client.start();

  context.subscriptions.push(
    vscode.commands.registerCommand("phx.runFile", async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor || editor.document.languageId !== "phx") {
        vscode.window.showErrorMessage("phx: open a .phx file to run it");
        return;
      }
      await editor.document.save();
      const terminal = vscode.window.createTerminal({ name: "phx run", cwd: path.dirname(editor.document.fileName) });
      terminal.show();
      terminal.sendText(`${phxPath()} run ${JSON.stringify(path.basename(editor.document.fileName))}`);
    }),
    vscode.commands.registerCommand("phx.showGraph", () => showGraph(context)),
  );
}

function showGraph(context: vscode.ExtensionContext): void {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== "phx") {
    vscode.window.showErrorMessage("phx: open a .phx file to see its DAG");
    return;
  }
  const file = editor.document.fileName;
  const panel = vscode.window.createWebviewPanel("phxGraph", `DAG: ${path.basename(file)}`, vscode.ViewColumn.Beside, {
    enableScripts: false,
  });
  const render = async () => {
    // The node count comes from the server's `phx/graph`; the picture from the CLI.
    let summary = "";
    try {
      const graph: any = await client?.sendRequest("phx/graph", { textDocument: { uri: editor.document.uri.toString() } });
      const nodes = graph?.json?.nodes?.length ?? 0;
      summary = `${nodes} nodes${graph?.errors ? " (the file has errors)" : ""}`;
    } catch (e) {
      summary = `the language server did not answer: ${e}`;
    }
    cp.execFile(phxPath(), ["graph", file, "--format", "svg"], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const body = err ? `<pre>${escapeHtml(stderr || String(err))}</pre>` : stdout;
      panel.webview.html = `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline';">
<style>body{background:#fff;color:#222;font-family:sans-serif} svg{max-width:100%;height:auto}</style></head>
<body><p>${escapeHtml(summary)}</p>${body}</body></html>`;
    });
  };
  void render();
  const onSave = vscode.workspace.onDidSaveTextDocument((d) => {
    if (d.fileName === file) void render();
  });
  panel.onDidDispose(() => onSave.dispose(), null, context.subscriptions);
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
