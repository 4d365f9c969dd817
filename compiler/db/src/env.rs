//! The sema [`Env`] over the database: every lookup is a query, so the
//! checks of one item depend exactly on the items it names.

use std::sync::Arc;

use phx_sema::fnir::{FnIr, FnScope};
use phx_sema::schema::ToolSchema;
use phx_sema::value::Value;
use phx_sema::{Env, Global};
use phx_syntax::ast::{FnItem, Item, ItemKind};

use crate::queries::{self, ItemId, SourceFile};

/// An [`Env`] for one file.
pub struct DbEnv<'db> {
    db: &'db dyn salsa::Database,
    file: SourceFile,
}

impl<'db> DbEnv<'db> {
    /// The environment of `file`.
    pub fn new(db: &'db dyn salsa::Database, file: SourceFile) -> DbEnv<'db> {
        DbEnv { db, file }
    }

    fn id(&self, kind: ItemKind, name: &str) -> ItemId<'db> {
        ItemId::new(self.db, self.file, kind, name.to_string(), 0)
    }

    fn global_of(&self, name: &str, with_nodes: bool) -> Option<Global> {
        let scope = queries::scope(self.db, self.file);
        let kind = *scope.values.get(name)?;
        let id = self.id(kind, name);
        Some(match kind {
            ItemKind::Param => Global::Value(queries::param_value(self.db, id).0.clone()),
            ItemKind::Let => Global::Value(queries::let_value(self.db, id).0.clone()),
            ItemKind::Fn => Global::Fn(queries::fn_lowered(self.db, id).fn_ref.clone()),
            ItemKind::Node if with_nodes => Global::Node(queries::node_sig(self.db, id).clone()),
            ItemKind::Import => Global::Module,
            _ => return None,
        })
    }

    fn module(&self, alias: &str) -> Option<DbEnv<'db>> {
        queries::import_target(self.db, self.file, alias).map(|f| DbEnv::new(self.db, f))
    }
}

impl Env for DbEnv<'_> {
    fn global(&self, name: &str) -> Option<Global> {
        self.global_of(name, true)
    }

    fn member(&self, module: &str, name: &str) -> Option<Global> {
        // Imports bring in fns, lets, params and tools, never nodes. A fn
        // keeps its module in its name, so its IR can be found again.
        match self.module(module)?.global_of(name, false)? {
            Global::Module => None,
            Global::Fn(mut f) => {
                f.name = format!("{module}.{}", f.name);
                Some(Global::Fn(f))
            }
            other => Some(other),
        }
    }

    fn names(&self) -> Vec<String> {
        queries::scope(self.db, self.file).values.keys().cloned().collect()
    }

    fn module_names(&self, module: &str) -> Vec<String> {
        let Some(m) = self.module(module) else { return Vec::new() };
        let scope = queries::scope(self.db, m.file);
        scope
            .values
            .iter()
            .filter(|(_, k)| !matches!(k, ItemKind::Node | ItemKind::Import))
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn fn_ir(&self, name: &str) -> Option<Arc<FnIr>> {
        if let Some((module, rest)) = name.split_once('.') {
            return self.module(module)?.fn_ir(rest);
        }
        let scope = queries::scope(self.db, self.file);
        if scope.values.get(name) != Some(&ItemKind::Fn) {
            return None;
        }
        queries::fn_lowered(self.db, self.id(ItemKind::Fn, name)).ir.clone()
    }

    fn tool(&self, path: &str) -> Option<Arc<ToolSchema>> {
        if let Some(s) = queries::stdlib().get(path) {
            return Some(s.clone());
        }
        let scope = queries::scope(self.db, self.file);
        if scope.tools.contains(path) {
            return queries::user_tool(self.db, self.id(ItemKind::Tool, path)).as_ref().map(|t| t.0.clone());
        }
        let (module, rest) = path.split_once('.')?;
        if scope.values.get(module) == Some(&ItemKind::Import) {
            return self.module(module)?.tool(rest);
        }
        None
    }

    fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = queries::stdlib().keys().cloned().collect();
        let scope = queries::scope(self.db, self.file);
        names.extend(scope.tools.iter().cloned());
        for (alias, kind) in &scope.values {
            if *kind == ItemKind::Import
                && let Some(m) = self.module(alias)
            {
                let ms = queries::scope(self.db, m.file);
                names.extend(ms.tools.iter().map(|t| format!("{alias}.{t}")));
            }
        }
        names.sort();
        names
    }
}

impl FnScope for DbEnv<'_> {
    fn fn_item(&self, name: &str) -> Option<FnItem> {
        let (env, local) = match name.split_once('.') {
            Some((module, rest)) => (self.module(module)?, rest.to_string()),
            None => (DbEnv::new(self.db, self.file), name.to_string()),
        };
        let scope = queries::scope(env.db, env.file);
        if scope.values.get(&local) != Some(&ItemKind::Fn) {
            return None;
        }
        let item = queries::item_ast(env.db, env.id(ItemKind::Fn, &local)).clone()?;
        match item.as_ref() {
            Item::Fn(f) => Some(f.clone()),
            _ => None,
        }
    }

    fn const_value(&self, name: &str) -> Option<Value> {
        match self.global_of(name, false)? {
            Global::Value(v) => Some(v),
            _ => None,
        }
    }

    fn names(&self) -> Vec<String> {
        Env::names(self)
    }
}
