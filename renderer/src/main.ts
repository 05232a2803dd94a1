import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { Studio } from './lib/state.svelte.ts';
import { connectStudio } from './lib/studio.ts';

const connection = connectStudio();
const studio = new Studio(connection.api);
mount(App, { target: document.getElementById('app')!, props: { studio, connection } });
