package testutil

// PeopleYAML is the start of the small schemas tests declare: the employee
// and position tables nodes are bound to.
const PeopleYAML = `fieldsync_schema: 1
nodes:
  employee: employee
  positions: position.employee_id
tables:
  employee:
    columns: {name: text, login: text}
    visibility: [all]
  position:
    columns: {employee_id: {type: text, references: employee}}
    visibility: [all]
`

// NotesYAML is PeopleYAML and notes seen by their owner, written by nodes
// and merged client-wins.
const NotesYAML = PeopleYAML + `  note:
    columns:
      owner_id: {type: text, references: employee}
      body: text
      color: text
    visibility:
      - owner: owner_id
    remote_write: true
    conflict: client_wins
`
