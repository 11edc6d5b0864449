//! The name a stdio server gets in errors and logs when none is given: the package or script
//! it runs, not the launcher (`npx`, `node`, `uvx`, `python`) every server shares.

use std::ffi::OsStr;
use std::path::Path;

/// Launchers whose first argument that is not an option is the package they run.
const PACKAGE_RUNNERS: [&str; 7] = ["npx", "pnpx", "bunx", "uvx", "pipx", "dlx", "yarn"];
/// Interpreters whose first argument that is not an option is the script they run.
const INTERPRETERS: [&str; 6] = ["node", "nodejs", "bun", "deno", "ruby", "tsx"];
/// Subcommands of launchers, skipped before the package or script (`pipx run`, `deno run`,
/// `yarn dlx`, `uv run`, `uv tool run`).
const SUBCOMMANDS: [&str; 5] = ["run", "dlx", "exec", "tool", "x"];
/// Options of launchers that take a value, skipped with it.
const OPTIONS_WITH_VALUE: [&str; 6] = ["-p", "--package", "--from", "--with", "-c", "--call"];
/// File and folder names that say nothing about which server it is.
const GENERIC: [&str; 12] = [
    "index", "main", "server", "cli", "dist", "build", "lib", "src", "bin", "out", "app",
    "__main__",
];

/// The name of the server started by `command` with `args`: the package a runner runs
/// (`npx -y @modelcontextprotocol/server-everything` gives `server-everything`), the
/// script an interpreter runs (`node .../server-everything/dist/index.js` gives
/// `server-everything`), the module of `python -m`, else the command's file name.
pub(crate) fn default_name(command: &OsStr, args: &[std::ffi::OsString]) -> String {
    let own = file_name(command);
    // A command line given as one string: name it by its parts.
    let split: Vec<std::ffi::OsString>;
    let (program, args) = match command.to_str() {
        Some(line) if args.is_empty() && line.contains(' ') => {
            let mut parts = line.split_whitespace();
            let program = parts.next().unwrap_or(line);
            split = parts.map(Into::into).collect();
            (file_name(OsStr::new(program)), &split[..])
        }
        _ => (own.clone(), args),
    };
    let launcher = program.trim_end_matches(".exe").to_ascii_lowercase();
    let is_python = launcher.starts_with("python") || launcher == "uv";
    let named = if PACKAGE_RUNNERS.contains(&launcher.as_str()) || launcher == "uv" {
        first_operand(args).map(|operand| {
            if operand.ends_with(".py") {
                script_name(Path::new(&operand))
            } else {
                package_name(&operand)
            }
        })
    } else if is_python && args.first().is_some_and(|arg| arg == "-m") {
        args.get(1)
            .map(|module| module.to_string_lossy().into_owned())
    } else if is_python || INTERPRETERS.contains(&launcher.as_str()) {
        first_operand(args).map(|script| script_name(Path::new(&script)))
    } else if launcher == "java" {
        args.iter()
            .position(|arg| arg == "-jar")
            .and_then(|at| args.get(at + 1))
            .map(|jar| script_name(Path::new(jar)))
    } else {
        None
    };
    named.filter(|name| !name.is_empty()).unwrap_or(own)
}

/// The command's file name, or the whole command if it has none.
fn file_name(command: &OsStr) -> String {
    Path::new(command)
        .file_name()
        .unwrap_or(command)
        .to_string_lossy()
        .into_owned()
}

/// The first argument that is neither an option (nor an option's value) nor a subcommand.
fn first_operand(args: &[std::ffi::OsString]) -> Option<String> {
    let mut args = args.iter().map(|arg| arg.to_string_lossy());
    while let Some(arg) = args.next() {
        if OPTIONS_WITH_VALUE.contains(&&*arg) {
            args.next();
        } else if !arg.starts_with('-') && !SUBCOMMANDS.contains(&&*arg) {
            return Some(arg.into_owned());
        }
    }
    None
}

/// The name of a package spec: `@scope/name@1.2` and `name==1.2` give `name`, `git+https://
/// .../name.git` gives `name`.
fn package_name(spec: &str) -> String {
    let unscoped = spec.strip_prefix('@').unwrap_or(spec);
    let versionless = unscoped
        .split(['@', '=', '<', '>', '[', '~'])
        .next()
        .unwrap_or(unscoped);
    let last = versionless
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(versionless);
    last.strip_suffix(".git").unwrap_or(last).to_owned()
}

/// The name of a script: its file stem, or, for a generic one (`dist/index.js`), the
/// nearest folder that is not generic.
fn script_name(script: &Path) -> String {
    let stem = script
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !GENERIC.contains(&stem.as_str()) {
        return stem;
    }
    script
        .ancestors()
        .skip(1)
        .filter_map(|folder| folder.file_name())
        .map(|folder| folder.to_string_lossy().into_owned())
        .find(|folder| !GENERIC.contains(&folder.as_str()))
        .unwrap_or(stem)
}

#[cfg(test)]
mod tests {
    use super::default_name;

    fn name(command: &str, args: &[&str]) -> String {
        let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        default_name(command.as_ref(), &args)
    }

    #[test]
    fn a_server_is_named_by_the_package_or_script_it_runs() {
        assert_eq!(
            name("npx", &["-y", "@modelcontextprotocol/server-everything"]),
            "server-everything"
        );
        assert_eq!(
            name(
                "npx",
                &[
                    "-y",
                    "@modelcontextprotocol/server-filesystem@2025.1.0",
                    "/tmp"
                ]
            ),
            "server-filesystem"
        );
        assert_eq!(
            name(
                "node",
                &["/opt/mcp/server-everything/dist/index.js", "stdio"]
            ),
            "server-everything"
        );
        assert_eq!(name("node", &["--inspect", "./weather.mjs"]), "weather");
        assert_eq!(name("uvx", &["mcp-server-fetch"]), "mcp-server-fetch");
        assert_eq!(
            name("uvx", &["--from", "git+https://x/y", "mcp-git==1.0"]),
            "mcp-git"
        );
        assert_eq!(
            name("uv", &["run", "--with", "mcp", "/srv/wiki/server.py"]),
            "wiki"
        );
        assert_eq!(
            name("python3", &["-m", "mcp_server_time"]),
            "mcp_server_time"
        );
        assert_eq!(
            name("/usr/bin/python3.12", &["/srv/tools/search.py"]),
            "search"
        );
        assert_eq!(name("python", &["/srv/notes/server.py"]), "notes");
        assert_eq!(
            name("java", &["-Xmx1g", "-jar", "/opt/jira-mcp.jar"]),
            "jira-mcp"
        );
        assert_eq!(name("pipx", &["run", "mcp-server-git"]), "mcp-server-git");
    }

    #[test]
    fn other_commands_and_bare_launchers_keep_the_command_name() {
        assert_eq!(
            name("/usr/local/bin/my-mcp-server", &["--port", "1"]),
            "my-mcp-server"
        );
        assert_eq!(name("npx", &[]), "npx");
        assert_eq!(name("node", &["-e"]), "node");
        assert_eq!(name("docker", &["run", "-i", "mcp/fetch"]), "docker");
    }

    #[test]
    fn a_command_line_given_as_one_string_is_named_by_its_parts() {
        assert_eq!(name("node /x/weather/index.js", &[]), "weather");
        assert_eq!(name("npx -y @scope/server-git", &[]), "server-git");
    }
}
